// Tests for cluster/peer_auth.cc: the mutual challenge-response handshake,
// run end to end through the encoders and the real RESP parser.
#include "cluster/peer_auth.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "unit/cluster/peer_protocol_test_util.h"

namespace ringkv::cluster {
namespace {

constexpr std::string_view kSecret = "correct horse battery staple";

using peer_protocol_testing::Parse;

// Runs a whole handshake; returns what each side concluded.
struct Outcome {
  PeerAuthResult server;
  bool client_ok = false;
  std::string client_error;
  std::string auth_bytes;  // The RK.AUTH the client sent, for replay tests.
};

Outcome Handshake(std::string_view server_secret, std::string_view client_secret) {
  PeerAuthServer server(server_secret, "n1");
  PeerAuthClient client(client_secret, "n2", "n1");
  std::string hello;
  server.MakeHello(&hello);
  Outcome outcome;
  std::string error;
  REQUIRE_MESSAGE(client.OnHello(Parse(hello), &outcome.auth_bytes, &error), error);
  std::string answer;
  outcome.server = server.OnAuth(Parse(outcome.auth_bytes), &answer);
  CHECK(server.accepted() == outcome.server.accepted);
  outcome.client_ok = client.OnWelcome(Parse(answer), &outcome.client_error);
  CHECK(client.authenticated() == outcome.client_ok);
  return outcome;
}

TEST_CASE("peer auth: both sides with the same secret authenticate each other") {
  Outcome outcome = Handshake(kSecret, kSecret);
  CHECK(outcome.server.accepted);
  CHECK(outcome.server.peer_name == "n2");
  CHECK(outcome.client_ok);
  // The secret never crosses the wire.
  CHECK(outcome.auth_bytes.find(kSecret) == std::string::npos);
}

TEST_CASE("peer auth: a client with the wrong secret is denied") {
  Outcome outcome = Handshake(kSecret, "wrong secret");
  CHECK_FALSE(outcome.server.accepted);
  CHECK(outcome.server.reason == "authentication failed");
  CHECK_FALSE(outcome.client_ok);
  CHECK(outcome.client_error.find("denied by n1") != std::string::npos);
}

TEST_CASE("peer auth: a server with the wrong secret cannot prove itself") {
  // An impostor server that accepts any AUTH still cannot forge WELCOME.
  PeerAuthClient client(kSecret, "n2");
  PeerHello hello;
  hello.server_name = "n1";
  hello.server_nonce.fill(7);
  std::string bytes;
  EncodeHello(hello, &bytes);
  std::string auth_bytes;
  std::string error;
  REQUIRE(client.OnHello(Parse(bytes), &auth_bytes, &error));
  PeerAuth auth;
  REQUIRE(DecodeAuth(Parse(auth_bytes), &auth, &error));
  PeerWelcome forged;
  forged.mac = ServerProof("wrong secret", auth.client_nonce, hello.server_nonce, "n1");
  bytes.clear();
  EncodeWelcome(forged, &bytes);
  CHECK_FALSE(client.OnWelcome(Parse(bytes), &error));
  CHECK(error.find("failed to prove") != std::string::npos);
  CHECK_FALSE(client.authenticated());
}

TEST_CASE("peer auth: a recorded AUTH replayed against a new nonce fails") {
  Outcome recorded = Handshake(kSecret, kSecret);
  REQUIRE(recorded.server.accepted);
  PeerAuthServer server(kSecret, "n1");
  std::string hello;
  server.MakeHello(&hello);
  std::string answer;
  PeerAuthResult result = server.OnAuth(Parse(recorded.auth_bytes), &answer);
  CHECK_FALSE(result.accepted);
  CHECK(Classify(Parse(answer)[0]) == PeerCommandKind::kDenied);
}

TEST_CASE("peer auth: a WELCOME from another exchange fails") {
  // Record a full exchange, then replay its WELCOME to a new client.
  PeerAuthServer server(kSecret, "n1");
  PeerAuthClient client(kSecret, "n2");
  std::string hello, auth_bytes, welcome, error;
  server.MakeHello(&hello);
  REQUIRE(client.OnHello(Parse(hello), &auth_bytes, &error));
  REQUIRE(server.OnAuth(Parse(auth_bytes), &welcome).accepted);
  PeerAuthClient victim(kSecret, "n2");
  std::string unused;
  REQUIRE(victim.OnHello(Parse(hello), &unused, &error));  // Same server nonce.
  CHECK_FALSE(victim.OnWelcome(Parse(welcome), &error));   // New client nonce.
}

TEST_CASE("peer auth: a client proof cannot be reflected as a server proof") {
  PeerNonce a, b;
  a.fill(1);
  b.fill(2);
  CHECK_FALSE(MacEqual(ClientProof(kSecret, a, b, "n1"), ServerProof(kSecret, a, b, "n1")));
  // The proof binds the name.
  CHECK_FALSE(MacEqual(ClientProof(kSecret, a, b, "n1"), ClientProof(kSecret, a, b, "n2")));
}

TEST_CASE("peer auth: nonces are fresh on every connection") {
  PeerAuthServer first(kSecret, "n1");
  PeerAuthServer second(kSecret, "n1");
  std::string hello_a, hello_b, error;
  first.MakeHello(&hello_a);
  second.MakeHello(&hello_b);
  PeerHello a, b;
  REQUIRE(DecodeHello(Parse(hello_a), &a, &error));
  REQUIRE(DecodeHello(Parse(hello_b), &b, &error));
  CHECK(a.server_nonce != b.server_nonce);
}

TEST_CASE("peer auth: malformed or out-of-order messages are denied") {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"RK.PUT", "1", "k", "x"},
      {"RK.AUTH", "n2"},
      {"RK.AUTH", "n2", std::string(32, 'a'), std::string(63, 'b')},
      {"RK.AUTH", "n2", std::string(32, 'A'), std::string(64, 'b')},
      {"RK.AUTH", "", std::string(32, 'a'), std::string(64, 'b')},
      {"RK.AUTH", "n2", std::string(32, 'a'), std::string(64, 'b')},  // Wrong MAC.
  };
  for (const auto& args : bad) {
    PeerAuthServer server(kSecret, "n1");
    std::string hello, answer;
    server.MakeHello(&hello);
    PeerAuthResult result = server.OnAuth(args, &answer);
    CHECK_FALSE(result.accepted);
    CHECK_FALSE(result.reason.empty());
    CHECK(Classify(Parse(answer)[0]) == PeerCommandKind::kDenied);
  }

  // AUTH before HELLO, and a second AUTH after success.
  PeerAuthServer early(kSecret, "n1");
  std::string answer;
  CHECK_FALSE(early.OnAuth(std::vector<std::string>{"RK.AUTH"}, &answer).accepted);

  PeerAuthServer server(kSecret, "n1");
  PeerAuthClient client(kSecret, "n2");
  std::string hello, auth_bytes, error;
  server.MakeHello(&hello);
  REQUIRE(client.OnHello(Parse(hello), &auth_bytes, &error));
  REQUIRE(server.OnAuth(Parse(auth_bytes), &answer).accepted);
  CHECK_FALSE(server.OnAuth(Parse(auth_bytes), &answer).accepted);
}

TEST_CASE("peer auth: the client refuses bad HELLOs and unexpected members") {
  std::string out, error;
  const std::string nonce(32, 'a');
  const std::string version = std::to_string(kPeerProtocolVersion);
  // An older node (version 1 has no RK.PUTRS) and a newer one alike.
  for (int other : {1, kPeerProtocolVersion + 1}) {
    PeerAuthClient client(kSecret, "n2");
    const std::string text = std::to_string(other);
    CHECK_FALSE(
        client.OnHello(std::vector<std::string>{"RK.HELLO", text, "n1", nonce}, &out, &error));
    CHECK(error.find("unsupported peer protocol version " + text) != std::string::npos);
  }
  {
    PeerAuthClient client(kSecret, "n2", "n3");
    CHECK_FALSE(
        client.OnHello(std::vector<std::string>{"RK.HELLO", version, "n1", nonce}, &out, &error));
    CHECK(error.find("expected member 'n3'") != std::string::npos);
  }
  {
    PeerAuthClient client(kSecret, "n2");
    CHECK_FALSE(client.OnHello(std::vector<std::string>{"RK.HELLO", version, "n1"}, &out, &error));
    CHECK(out.empty());
  }
  {
    // A WELCOME before any HELLO, or garbage instead of a WELCOME.
    PeerAuthClient client(kSecret, "n2");
    CHECK_FALSE(
        client.OnWelcome(std::vector<std::string>{"RK.WELCOME", std::string(64, 'a')}, &error));
    PeerAuthClient other(kSecret, "n2");
    REQUIRE(
        other.OnHello(std::vector<std::string>{"RK.HELLO", version, "n1", nonce}, &out, &error));
    CHECK_FALSE(other.OnWelcome(std::vector<std::string>{"RK.PUTR", "1", "OK"}, &error));
    CHECK_FALSE(other.authenticated());
  }
}

TEST_CASE("peer auth: MACs are compared in constant time by value") {
  PeerMac a;
  a.fill(0x5a);
  PeerMac b = a;
  CHECK(MacEqual(a, b));
  // A difference anywhere, first byte or last, is caught: sodium_memcmp
  // reads every byte instead of stopping at the first mismatch.
  for (size_t i = 0; i < a.size(); i++) {
    PeerMac c = a;
    c[i] ^= 1;
    CHECK_FALSE(MacEqual(a, c));
  }
}

TEST_CASE("peer auth: secrets of any length work, longer than the HMAC block too") {
  std::string long_secret(1000, 's');
  CHECK(Handshake(long_secret, long_secret).client_ok);
  CHECK_FALSE(Handshake(long_secret, long_secret.substr(1)).server.accepted);
  CHECK(Handshake("x", "x").client_ok);
}

}  // namespace
}  // namespace ringkv::cluster
