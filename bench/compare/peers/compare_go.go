// bench/compare/peers/compare_go.go — the Go peer: one goroutine per unit,
// for the io and spawn workloads (GOMAXPROCS left at its default: every CPU).
//
//	go build -o compare_go compare_go.go
//	compare_go -workload io|spawn -units N [-port P]
//
// Prints the same JSON object as `compare_models cell` (see compare_models.cpp):
// io units speak the same protocol (8 little-endian words i*8+j out, each
// XORed with answerKey back); spawn units announce themselves, wait for a
// closed channel, and are joined with a WaitGroup. Memory of the live units is
// the Pss of this process (smaps_rollup) and the kernel's delta, as in C++.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const messageSize = 64
const answerKey uint64 = 0x9E3779B97F4A7C15

type usage struct {
	user, sys   float64
	vcsw, ivcsw int64
}

func usageNow() usage {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	sec := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return usage{sec(self.Utime) + sec(kids.Utime), sec(self.Stime) + sec(kids.Stime),
		self.Nvcsw + kids.Nvcsw, self.Nivcsw + kids.Nivcsw}
}

func (a usage) minus(b usage) usage {
	return usage{a.user - b.user, a.sys - b.sys, a.vcsw - b.vcsw, a.ivcsw - b.ivcsw}
}

// procKiB returns the value of `field` ("Pss:") in a /proc file, in KiB.
func procKiB(path, field string) float64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, field) {
			v, _ := strconv.ParseFloat(strings.Fields(line[len(field):])[0], 64)
			return v
		}
	}
	return -1
}

func pssKiB() float64 { return procKiB("/proc/self/smaps_rollup", "Pss:") }
func kernelKiB() float64 {
	return procKiB("/proc/meminfo", "KernelStack:") + procKiB("/proc/meminfo", "PageTables:") +
		procKiB("/proc/meminfo", "SUnreclaim:")
}

func expectedIO(i uint64) uint64 {
	var sum uint64
	for j := uint64(0); j < messageSize/8; j++ {
		sum += (i*8 + j) ^ answerKey
	}
	return sum
}

func ioUnit(i uint64, addr string) (uint64, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var buf [messageSize]byte
	for j := uint64(0); j < messageSize/8; j++ {
		binary.LittleEndian.PutUint64(buf[j*8:], i*8+j)
	}
	if _, err := c.Write(buf[:]); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(c, buf[:]); err != nil {
		return 0, err
	}
	var sum uint64
	for j := 0; j < messageSize/8; j++ {
		sum += binary.LittleEndian.Uint64(buf[j*8:])
	}
	return sum, nil
}

func main() {
	workload := flag.String("workload", "", "io or spawn")
	units := flag.Int("units", 0, "number of units")
	port := flag.Int("port", 0, "port of the delay server (io)")
	flag.Parse()
	if *units <= 0 || (*workload != "io" && *workload != "spawn") || (*workload == "io" && *port == 0) {
		fmt.Fprintln(os.Stderr, "usage: compare_go -workload io|spawn -units N [-port P]")
		os.Exit(2)
	}
	n := *units
	results := make([]uint64, n)
	var failed int64
	var firstError atomic.Value
	out := map[string]interface{}{"model": "go", "workload": *workload, "units": n}

	basePss, baseKernel := pssKiB(), kernelKiB()
	u0 := usageNow()
	t0 := time.Now()
	var excluded time.Duration
	var excludedUsage usage
	var wg sync.WaitGroup
	wg.Add(n)
	if *workload == "io" {
		addr := fmt.Sprintf("127.0.0.1:%d", *port)
		for i := 0; i < n; i++ {
			go func(i int) {
				defer wg.Done()
				v, err := ioUnit(uint64(i), addr)
				if err != nil {
					if atomic.AddInt64(&failed, 1) == 1 {
						firstError.Store(err.Error())
					}
					return
				}
				results[i] = v
			}(i)
		}
		wg.Wait()
	} else {
		gate := make(chan struct{})
		var ready int64
		var allReady atomic.Value
		for i := 0; i < n; i++ {
			go func(i int) {
				defer wg.Done()
				if atomic.AddInt64(&ready, 1) == int64(n) {
					allReady.Store(time.Now())
				}
				<-gate
				results[i] = uint64(i)
			}(i)
		}
		for atomic.LoadInt64(&ready) < int64(n) {
			time.Sleep(100 * time.Microsecond)
		}
		at := allReady.Load().(time.Time)
		before := usageNow()
		out["spawn_s"] = at.Sub(t0).Seconds()
		mem := pssKiB()
		out["mem_kib"] = mem
		out["mem_per_unit_kib"] = (mem - basePss) / float64(n)
		out["kmem_per_unit_kib"] = (kernelKiB() - baseKernel) / float64(n)
		excluded = time.Since(at)
		excludedUsage = usageNow().minus(before)
		close(gate)
		wg.Wait()
	}
	wall := (time.Since(t0) - excluded).Seconds()
	u := usageNow().minus(u0).minus(excludedUsage)

	var checksum, expected uint64
	for i := 0; i < n; i++ {
		checksum += results[i]
		if *workload == "io" {
			expected += expectedIO(uint64(i))
		} else {
			expected += uint64(i)
		}
	}
	ok := failed == 0 && checksum == expected
	out["ok"] = ok
	out["wall_s"] = wall
	out["units_per_s"] = float64(n) / wall
	out["user_s"] = u.user
	out["sys_s"] = u.sys
	out["cpu_s"] = u.user + u.sys
	out["vcsw"] = u.vcsw
	out["ivcsw"] = u.ivcsw
	out["checksum"] = strconv.FormatUint(checksum, 10)
	out["peak_rss_kib"] = procKiB("/proc/self/status", "VmHWM:")
	if failed > 0 {
		out["error"] = fmt.Sprintf("%d units failed, first: %v", failed, firstError.Load())
	} else if !ok {
		out["error"] = "wrong checksum"
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	if !ok {
		os.Exit(3)
	}
}
