// jump_context.cpp — an x86-64 context switch that keeps return prediction.
//
// Boost.Context 1.74's jump_fcontext ends with `jmp *%r8`: the `call` into it
// pushes a return-stack-buffer entry that no `ret` consumes, so every `ret`
// after a switch is mispredicted until the buffer drains (about 20 ns per
// task switch, measured). This routine saves and restores exactly the same
// frame as jump_fcontext — contexts made by make_fcontext work unchanged —
// but leaves with `ret`, which pairs with the `call` made by the task we
// switch to (the same call site in switch_context), so it predicts correctly.
#include "context_switch.hpp"

#if defined(__x86_64__) && defined(__linux__)

__asm__(R"(
    .text
    .globl ringlet_jump_context
    .hidden ringlet_jump_context
    .type ringlet_jump_context, @function
    .align 16
ringlet_jump_context:
    .cfi_startproc
    leaq  -0x38(%rsp), %rsp
    stmxcsr  (%rsp)
    fnstcw   0x4(%rsp)
    movq  %r12, 0x8(%rsp)
    movq  %r13, 0x10(%rsp)
    movq  %r14, 0x18(%rsp)
    movq  %r15, 0x20(%rsp)
    movq  %rbx, 0x28(%rsp)
    movq  %rbp, 0x30(%rsp)
    movq  %rsp, %rax
    movq  %rdi, %rsp
    ldmxcsr  (%rsp)
    fldcw    0x4(%rsp)
    movq  0x8(%rsp), %r12
    movq  0x10(%rsp), %r13
    movq  0x18(%rsp), %r14
    movq  0x20(%rsp), %r15
    movq  0x28(%rsp), %rbx
    movq  0x30(%rsp), %rbp
    leaq  0x38(%rsp), %rsp
    movq  %rsi, %rdx
    movq  %rax, %rdi
    ret
    .cfi_endproc
    .size ringlet_jump_context, .-ringlet_jump_context
)");

#endif
