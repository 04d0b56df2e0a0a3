// A TCP connection to the broker, plain or TLS (OpenSSL: the broker's certificate checked
// against broker.ca_file / ca_path or the system's, its name or IP address against
// broker.host; a client certificate when cert_file / key_file are set). Blocking writes
// with a timeout; reads after poll() says the descriptor (or pending()) has bytes.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "runtime/core/result.h"

struct ssl_st;
struct ssl_ctx_st;

namespace airt::service {

struct MqttOptions;

class NetSocket {
 public:
  // Connects within `timeout_ms` (the TLS handshake included). Errors name the broker
  // and, for TLS, the setting to check.
  static Result<std::unique_ptr<NetSocket>> connect(const MqttOptions& options, int timeout_ms);
  ~NetSocket();
  NetSocket(const NetSocket&) = delete;
  NetSocket& operator=(const NetSocket&) = delete;

  int fd() const { return fd_; }
  // Bytes already read from the socket and decrypted, waiting to be taken.
  bool pending() const;
  Status write_all(std::string_view data);
  // Up to `n` bytes; 0 when the broker closed the connection.
  Result<size_t> read_some(char* buf, size_t n);

 private:
  NetSocket() = default;
  int fd_ = -1;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
};

}  // namespace airt::service
