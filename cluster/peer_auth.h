// cluster/peer_auth.h: mutual challenge-response between peers, as pure
// state objects (the libuv adapter moves the bytes).
//
// Both sides prove knowledge of the cluster secret without sending it:
//
//   accepting side                            connecting side
//   RK.HELLO <version> <server-name> <Ns>  ->
//                                           <- RK.AUTH <client-name> <Nc> <Mc>
//   RK.WELCOME <Ms>                        ->   (or RK.DENIED <reason>, close)
//
//   Mc = HMAC-SHA256(secret, "client|" + hex(Ns) + "|" + hex(Nc) + "|" + client-name)
//   Ms = HMAC-SHA256(secret, "server|" + hex(Nc) + "|" + hex(Ns) + "|" + server-name)
//
// Fresh 16-byte nonces on both sides defeat replay in both directions; the
// "client|" / "server|" labels keep one side's proof from being reflected as
// the other's. MACs are compared in constant time. What this does NOT do:
// encrypt or authenticate the traffic after the handshake, so a peer network
// must still be private (docs/peer_protocol.md says so).
//
// One object per connection and per attempt; neither is reusable.
// Thread safety: none (loop thread). The objects wipe their copy of the
// secret when destroyed. libsodium is initialized on first construction;
// if it cannot be (no entropy source), the process aborts, as there is no
// safe way to go on.
#ifndef RINGKV_CLUSTER_PEER_AUTH_H_
#define RINGKV_CLUSTER_PEER_AUTH_H_

#include <span>
#include <string>
#include <string_view>

#include "cluster/peer_protocol.h"

namespace ringkv::cluster {

// The accepting side's verdict on an RK.AUTH.
struct PeerAuthResult {
  bool accepted = false;
  std::string peer_name;  // The authenticated client name, when accepted.
  std::string reason;     // Why not, when denied (also sent in RK.DENIED).
};

class PeerAuthServer {
 public:
  // REQUIRES: secret not empty; server_name 1..kPeerNameBytesMax bytes.
  PeerAuthServer(std::string_view secret, std::string_view server_name);
  ~PeerAuthServer();
  PeerAuthServer(const PeerAuthServer&) = delete;
  PeerAuthServer& operator=(const PeerAuthServer&) = delete;

  // Draws a fresh nonce and appends RK.HELLO to *out. REQUIRES: called once,
  // before OnAuth.
  void MakeHello(std::string* out);

  // Handles the connecting side's first message (any message: something
  // other than a valid RK.AUTH is denied). Appends RK.WELCOME or RK.DENIED
  // to *out; after a denial the adapter closes the connection and counts
  // it. A second call is always denied: a connection authenticates once.
  PeerAuthResult OnAuth(std::span<const std::string> args, std::string* out);

  bool accepted() const { return state_ == State::kAccepted; }

 private:
  enum class State { kNew, kHelloSent, kAccepted, kDenied };

  PeerAuthResult Deny(std::string reason, std::string* out);

  std::string secret_;
  std::string server_name_;
  PeerNonce server_nonce_{};
  State state_ = State::kNew;
};

class PeerAuthClient {
 public:
  // `expected_server_name`, when not empty, is the member this connection
  // was dialed for; a HELLO naming another member is refused, so a
  // misrouted address is caught at once instead of mixing up replicas.
  // REQUIRES: secret not empty; client_name 1..kPeerNameBytesMax bytes.
  PeerAuthClient(std::string_view secret, std::string_view client_name,
                 std::string_view expected_server_name = {});
  ~PeerAuthClient();
  PeerAuthClient(const PeerAuthClient&) = delete;
  PeerAuthClient& operator=(const PeerAuthClient&) = delete;

  // Handles RK.HELLO: checks it, draws a fresh nonce and appends RK.AUTH to
  // *out. On a malformed HELLO, an unsupported version or an unexpected
  // server name returns false with *error; the adapter closes.
  bool OnHello(std::span<const std::string> args, std::string* out, std::string* error);

  // Handles the answer to RK.AUTH. True only for an RK.WELCOME whose MAC
  // proves the server knows the secret and answered this very exchange.
  // RK.DENIED, a bad MAC or anything else: false with *error. Nothing but
  // the handshake may be sent before this returns true.
  bool OnWelcome(std::span<const std::string> args, std::string* error);

  bool authenticated() const { return state_ == State::kAuthenticated; }
  // The server's name from its HELLO (valid after OnHello succeeded).
  const std::string& server_name() const { return server_name_; }

 private:
  enum class State { kNew, kAuthSent, kAuthenticated, kFailed };

  bool Fail(std::string_view reason, std::string* error);

  std::string secret_;
  std::string client_name_;
  std::string expected_server_name_;
  std::string server_name_;
  PeerNonce server_nonce_{};
  PeerNonce client_nonce_{};
  State state_ = State::kNew;
};

// The two proofs, exposed for tests and for the spec's examples.
PeerMac ClientProof(std::string_view secret, const PeerNonce& server_nonce,
                    const PeerNonce& client_nonce, std::string_view client_name);
PeerMac ServerProof(std::string_view secret, const PeerNonce& client_nonce,
                    const PeerNonce& server_nonce, std::string_view server_name);

// Constant-time equality of two MACs (sodium_memcmp): the time taken never
// tells an attacker how many leading bytes of a forged MAC were right.
bool MacEqual(const PeerMac& a, const PeerMac& b);

}  // namespace ringkv::cluster

#endif  // RINGKV_CLUSTER_PEER_AUTH_H_
