// ringlet/redis/errors.hpp — the exceptions of ringlet::redis.
//
// They follow the runtime's policy (ringlet/errors.hpp): an expected "no"
// (a nil reply, a blocking pop that timed out) is a return value; these mean
// the call could not do its job:
//   Error            the server answered with an error reply ("ERR ...",
//                    "WRONGTYPE ..."); the connection stays usable
//   AuthError        AUTH was refused, or a command met NOAUTH / WRONGPASS
//   ConnectionError  the connection could not be made, was lost, or the
//                    server sent bytes that are not RESP; the command may or
//                    may not have run. The client reconnects on its next call
//   DeadLetter       a TaskQueue task was delivered max_deliveries times
//                    without a result and went to the dead-letter stream
// A command deadline (ClientOptions::timeout) or an enclosing ringlet::Timeout
// throws ringlet::TimeoutError, and cancellation ringlet::Cancelled, as for any
// IO; the connection is then closed (never left out of step with its replies).
#pragma once

#include <stdexcept>
#include <string>

namespace ringlet::redis {

// An error reply. what() is the server's text, e.g. "WRONGTYPE Operation
// against a key holding the wrong kind of value".
class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// AUTH failed (wrong user or password), or the server wants one and none was
// given (NOAUTH). The connection is closed.
class AuthError : public Error {
  public:
    using Error::Error;
};

// Connect failed, the connection broke, or the reply stream was not RESP.
class ConnectionError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A TaskQueue task that exhausted TaskQueueOptions::max_deliveries.
class DeadLetter : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

}  // namespace ringlet::redis
