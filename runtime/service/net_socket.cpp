#include "runtime/service/net_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "runtime/service/mqtt_client.h"

namespace airt::service {
namespace {

std::string ssl_errors() {
  std::string out;
  for (unsigned long e; (e = ERR_get_error()) != 0;) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? std::string(std::strerror(errno)) : out;
}

void set_timeouts(int fd, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// A non-blocking connect bounded by `timeout_ms`, to the first address that answers.
Result<int> tcp_connect(const std::string& host, int port, int timeout_ms) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) return errorf(Error::kBackendFailure, "mqtt: cannot resolve %s: %s", host.c_str(), gai_strerror(rc));
  int last_errno = ECONNREFUSED;
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int r = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (::poll(&p, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0) r = err ? -1 : 0;
      else err = ETIMEDOUT;
      errno = err;
    }
    if (r == 0) {
      freeaddrinfo(res);
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      set_timeouts(fd, timeout_ms);
      return fd;
    }
    last_errno = errno;
    ::close(fd);
  }
  freeaddrinfo(res);
  return errorf(Error::kBackendFailure, "mqtt: cannot connect to %s:%d: %s", host.c_str(), port,
                std::strerror(last_errno));
}

}  // namespace

Result<std::unique_ptr<NetSocket>> NetSocket::connect(const MqttOptions& o, int timeout_ms) {
  std::unique_ptr<NetSocket> s(new NetSocket());
  s->fd_ = AIRT_TRY(tcp_connect(o.host, o.port, timeout_ms));
  if (!o.tls) return s;
  auto tls_error = [&](const char* what) {
    return errorf(Error::kBackendFailure, "mqtt: TLS to %s:%d: %s: %s (check broker.ca_file, ca_path, cert_file, key_file)",
                  o.host.c_str(), o.port, what, ssl_errors().c_str());
  };
  s->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!s->ctx_) return tls_error("cannot create a context");
  SSL_CTX_set_min_proto_version(s->ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(s->ctx_, SSL_VERIFY_PEER, nullptr);
  const char* ca_file = o.ca_file.empty() ? nullptr : o.ca_file.c_str();
  const char* ca_path = o.ca_path.empty() ? nullptr : o.ca_path.c_str();
  if (ca_file || ca_path ? SSL_CTX_load_verify_locations(s->ctx_, ca_file, ca_path) != 1
                         : SSL_CTX_set_default_verify_paths(s->ctx_) != 1)
    return tls_error("cannot load the CA certificates");
  if (!o.cert_file.empty() && SSL_CTX_use_certificate_chain_file(s->ctx_, o.cert_file.c_str()) != 1)
    return tls_error("cannot load the client certificate");
  if (!o.key_file.empty() && SSL_CTX_use_PrivateKey_file(s->ctx_, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return tls_error("cannot load the client key");
  s->ssl_ = SSL_new(s->ctx_);
  if (!s->ssl_) return tls_error("cannot create a session");
  SSL_set_fd(s->ssl_, s->fd_);
  in6_addr ip6;
  in_addr ip4;
  bool is_ip = inet_pton(AF_INET, o.host.c_str(), &ip4) == 1 || inet_pton(AF_INET6, o.host.c_str(), &ip6) == 1;
  X509_VERIFY_PARAM* param = SSL_get0_param(s->ssl_);
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, o.host.c_str());
  } else {
    SSL_set_tlsext_host_name(s->ssl_, o.host.c_str());
    X509_VERIFY_PARAM_set1_host(param, o.host.c_str(), 0);
  }
  if (SSL_connect(s->ssl_) != 1) {
    long v = SSL_get_verify_result(s->ssl_);
    if (v != X509_V_OK)
      return errorf(Error::kBackendFailure, "mqtt: TLS to %s:%d: the broker's certificate is not trusted: %s "
                    "(check broker.ca_file and that broker.host is the name in the certificate)",
                    o.host.c_str(), o.port, X509_verify_cert_error_string(v));
    return tls_error("handshake failed");
  }
  return s;
}

NetSocket::~NetSocket() {
  if (ssl_) {
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

bool NetSocket::pending() const { return ssl_ && SSL_pending(ssl_) > 0; }

Status NetSocket::write_all(std::string_view data) {
  while (!data.empty()) {
    ssize_t n;
    if (ssl_) {
      n = SSL_write(ssl_, data.data(), int(data.size()));
      if (n <= 0) return errorf(Error::kBackendFailure, "mqtt: TLS write failed: %s", ssl_errors().c_str());
    } else {
      n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return errorf(Error::kBackendFailure, "mqtt: write failed: %s", std::strerror(errno));
    }
    data.remove_prefix(size_t(n));
  }
  return ok_status();
}

Result<size_t> NetSocket::read_some(char* buf, size_t n) {
  if (ssl_) {
    int r = SSL_read(ssl_, buf, int(n));
    if (r > 0) return size_t(r);
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_ZERO_RETURN) return size_t(0);
    if (e == SSL_ERROR_WANT_READ) return errorf(Error::kBackendFailure, "mqtt: TLS read timed out");
    return errorf(Error::kBackendFailure, "mqtt: TLS read failed: %s", ssl_errors().c_str());
  }
  for (;;) {
    ssize_t r = ::recv(fd_, buf, n, 0);
    if (r >= 0) return size_t(r);
    if (errno == EINTR) continue;
    return errorf(Error::kBackendFailure, "mqtt: read failed: %s", std::strerror(errno));
  }
}

}  // namespace airt::service
