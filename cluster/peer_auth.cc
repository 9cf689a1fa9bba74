// cluster/peer_auth.cc: the peer handshake on libsodium's HMAC-SHA256.
#include "cluster/peer_auth.h"

#include <sodium.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace ringkv::cluster {
namespace {

static_assert(kPeerMacBytes == crypto_auth_hmacsha256_BYTES);

// sodium_init is idempotent but not free; a function-local static runs it
// once, thread-safely. Failure means the OS gave libsodium no entropy
// source: nonces would be predictable, so refuse to go on.
void EnsureSodium() {
  static const bool initialized = sodium_init() >= 0;
  if (!initialized) {
    std::fprintf(stderr, "ringkv: libsodium failed to initialize\n");
    std::abort();
  }
}

void Wipe(std::string* secret) {
  if (!secret->empty()) sodium_memzero(secret->data(), secret->size());
}

void Update(crypto_auth_hmacsha256_state* state, std::string_view bytes) {
  crypto_auth_hmacsha256_update(state, reinterpret_cast<const unsigned char*>(bytes.data()),
                                bytes.size());
}

// HMAC(secret, label + "|" + hex(first) + "|" + hex(second) + "|" + name).
// Streaming HMAC takes a key of any length, so the configured secret is
// used as is (HMAC hashes keys longer than its block).
PeerMac Proof(std::string_view secret, std::string_view label, const PeerNonce& first,
              const PeerNonce& second, std::string_view name) {
  EnsureSodium();
  char hex[2 * kPeerNonceBytes + 1];
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size());
  Update(&state, label);
  Update(&state, "|");
  sodium_bin2hex(hex, sizeof(hex), first.data(), first.size());
  Update(&state, std::string_view(hex, 2 * kPeerNonceBytes));
  Update(&state, "|");
  sodium_bin2hex(hex, sizeof(hex), second.data(), second.size());
  Update(&state, std::string_view(hex, 2 * kPeerNonceBytes));
  Update(&state, "|");
  Update(&state, name);
  PeerMac mac;
  crypto_auth_hmacsha256_final(&state, mac.data());
  sodium_memzero(&state, sizeof(state));
  return mac;
}

}  // namespace

PeerMac ClientProof(std::string_view secret, const PeerNonce& server_nonce,
                    const PeerNonce& client_nonce, std::string_view client_name) {
  return Proof(secret, "client", server_nonce, client_nonce, client_name);
}

PeerMac ServerProof(std::string_view secret, const PeerNonce& client_nonce,
                    const PeerNonce& server_nonce, std::string_view server_name) {
  return Proof(secret, "server", client_nonce, server_nonce, server_name);
}

bool MacEqual(const PeerMac& a, const PeerMac& b) {
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

// ---- Accepting side -----------------------------------------------------------

PeerAuthServer::PeerAuthServer(std::string_view secret, std::string_view server_name)
    : secret_(secret), server_name_(server_name) {
  assert(!secret_.empty());
  assert(!server_name_.empty() && server_name_.size() <= kPeerNameBytesMax);
  EnsureSodium();
}

PeerAuthServer::~PeerAuthServer() { Wipe(&secret_); }

void PeerAuthServer::MakeHello(std::string* out) {
  assert(state_ == State::kNew);
  randombytes_buf(server_nonce_.data(), server_nonce_.size());
  state_ = State::kHelloSent;
  PeerHello hello;
  hello.server_name = server_name_;
  hello.server_nonce = server_nonce_;
  EncodeHello(hello, out);
}

PeerAuthResult PeerAuthServer::Deny(std::string reason, std::string* out) {
  state_ = State::kDenied;
  EncodeDenied(PeerDenied{reason}, out);
  PeerAuthResult result;
  result.reason = std::move(reason);
  return result;
}

PeerAuthResult PeerAuthServer::OnAuth(std::span<const std::string> args, std::string* out) {
  if (state_ != State::kHelloSent) return Deny("unexpected authentication", out);
  PeerAuth auth;
  std::string error;
  if (!DecodeAuth(args, &auth, &error)) return Deny("malformed RK.AUTH: " + error, out);
  PeerMac expected = ClientProof(secret_, server_nonce_, auth.client_nonce, auth.client_name);
  // One reason for every wrong proof: the peer learns nothing about why.
  if (!MacEqual(expected, auth.mac)) return Deny("authentication failed", out);
  state_ = State::kAccepted;
  PeerWelcome welcome;
  welcome.mac = ServerProof(secret_, auth.client_nonce, server_nonce_, server_name_);
  EncodeWelcome(welcome, out);
  PeerAuthResult result;
  result.accepted = true;
  result.peer_name = std::move(auth.client_name);
  return result;
}

// ---- Connecting side ----------------------------------------------------------

PeerAuthClient::PeerAuthClient(std::string_view secret, std::string_view client_name,
                               std::string_view expected_server_name)
    : secret_(secret), client_name_(client_name), expected_server_name_(expected_server_name) {
  assert(!secret_.empty());
  assert(!client_name_.empty() && client_name_.size() <= kPeerNameBytesMax);
  EnsureSodium();
}

PeerAuthClient::~PeerAuthClient() { Wipe(&secret_); }

bool PeerAuthClient::Fail(std::string_view reason, std::string* error) {
  state_ = State::kFailed;
  error->assign(reason);
  return false;
}

bool PeerAuthClient::OnHello(std::span<const std::string> args, std::string* out,
                             std::string* error) {
  if (state_ != State::kNew) return Fail("unexpected RK.HELLO", error);
  PeerHello hello;
  std::string reason;
  if (!DecodeHello(args, &hello, &reason)) return Fail("malformed RK.HELLO: " + reason, error);
  if (hello.version != kPeerProtocolVersion) {
    return Fail("unsupported peer protocol version " + std::to_string(hello.version), error);
  }
  if (!expected_server_name_.empty() && hello.server_name != expected_server_name_) {
    return Fail(
        "expected member '" + expected_server_name_ + "', found '" + hello.server_name + "'",
        error);
  }
  server_name_ = std::move(hello.server_name);
  server_nonce_ = hello.server_nonce;
  randombytes_buf(client_nonce_.data(), client_nonce_.size());
  PeerAuth auth;
  auth.client_name = client_name_;
  auth.client_nonce = client_nonce_;
  auth.mac = ClientProof(secret_, server_nonce_, client_nonce_, client_name_);
  EncodeAuth(auth, out);
  state_ = State::kAuthSent;
  return true;
}

bool PeerAuthClient::OnWelcome(std::span<const std::string> args, std::string* error) {
  if (state_ != State::kAuthSent) return Fail("unexpected handshake message", error);
  std::string reason;
  if (!args.empty() && Classify(args[0]) == PeerCommandKind::kDenied) {
    PeerDenied denied;
    if (!DecodeDenied(args, &denied, &reason)) return Fail("malformed RK.DENIED: " + reason, error);
    return Fail("denied by " + server_name_ + ": " + denied.reason, error);
  }
  PeerWelcome welcome;
  if (!DecodeWelcome(args, &welcome, &reason)) {
    return Fail("malformed RK.WELCOME: " + reason, error);
  }
  PeerMac expected = ServerProof(secret_, client_nonce_, server_nonce_, server_name_);
  if (!MacEqual(expected, welcome.mac)) {
    return Fail("server " + server_name_ + " failed to prove the cluster secret", error);
  }
  state_ = State::kAuthenticated;
  return true;
}

}  // namespace ringkv::cluster
