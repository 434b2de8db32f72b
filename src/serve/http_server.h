#pragma once
// The HTTP/1.1 front end of `medenc serve` on Boost.Beast/Asio: one I/O thread holds every
// connection (idle keep-alive connections cost no thread), hands requests to the Service, watches
// the socket while a request is computed (a client that hangs up has its queued inputs dropped),
// and drains on SIGTERM/SIGINT.
#include "serve/service.h"

namespace medenc::serve {

// Binds, loads the models (/health is 503 until they are loaded and warmed), serves until a
// signal, then answers what is in flight (up to --shutdown-timeout) and returns 0. Load failures
// throw medenc::Error.
int run_server(const ServerOptions& options);

}  // namespace medenc::serve
