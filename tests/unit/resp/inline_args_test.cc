// Tests for resp/inline_args.cc: SplitInlineArgs against Redis's
// sdssplitargs (expected values checked with redis-server 7.0).
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "resp/parser.h"

namespace ringkv::resp {
namespace {

using Args = std::vector<std::string>;

// The arguments of `line`, or nullopt on unbalanced quotes.
std::optional<Args> Split(std::string_view line) {
  std::vector<std::string> storage;
  size_t argc = 0;
  if (!SplitInlineArgs(line, &storage, &argc)) return std::nullopt;
  REQUIRE(argc <= storage.size());
  return Args(storage.begin(), storage.begin() + static_cast<ptrdiff_t>(argc));
}

TEST_CASE("inline args: blanks separate arguments") {
  CHECK(Split("a b  c") == Args{"a", "b", "c"});
  CHECK(Split("  \t a\tb \r\n") == Args{"a", "b"});
  CHECK(Split("") == Args{});
  CHECK(Split(" \t\v\f ") == Args{});
}

TEST_CASE("inline args: vertical tab and form feed inside a word are kept") {
  CHECK(Split("a\vb") == Args{"a\vb"});
  CHECK(Split("a\f") == Args{"a\f"});
  CHECK(Split("\va") == Args{"a"});
}

TEST_CASE("inline args: double quotes with escapes") {
  CHECK(Split("\"a b\"") == Args{"a b"});
  CHECK(Split("\"\\n\\r\\t\\b\\a\\\\\\\"\"") == Args{"\n\r\t\b\a\\\""});
  CHECK(Split("\"\\q\"") == Args{"q"});
  CHECK(Split("\"a\"\v") == Args{"a"});
}

TEST_CASE("inline args: hex escapes need two hex digits") {
  CHECK(Split("\"\\x41\\x6a\\x6A\"") == Args{"Ajj"});
  CHECK(Split("\"\\x00\\xff\"") == Args{std::string("\0\xff", 2)});
  CHECK(Split("\"\\x41\\x4g\"") == Args{"Ax4g"});
  CHECK(Split("\"\\x4\"") == Args{"x4"});
  CHECK(Split("\"\\x\"") == Args{"x"});
}

TEST_CASE("inline args: single quotes escape only the single quote") {
  CHECK(Split("'it\\'s'") == Args{"it's"});
  CHECK(Split("'a\\nb'") == Args{"a\\nb"});
  CHECK(Split("'a \"b\" c'") == Args{"a \"b\" c"});
}

TEST_CASE("inline args: empty quoted strings are arguments") {
  CHECK(Split("SET a \"\"") == Args{"SET", "a", ""});
  CHECK(Split("''") == Args{""});
}

TEST_CASE("inline args: a quote inside a word quotes the rest of it") {
  CHECK(Split("a\"b c\"") == Args{"ab c"});
  CHECK(Split("x'y z' w") == Args{"xy z", "w"});
}

TEST_CASE("inline args: unbalanced quotes") {
  CHECK(Split("\"abc") == std::nullopt);
  CHECK(Split("'abc") == std::nullopt);
  CHECK(Split("\"a\"b") == std::nullopt);
  CHECK(Split("'a'b") == std::nullopt);
  CHECK(Split("a\"b c\"d") == std::nullopt);
  CHECK(Split("\"abc\\") == std::nullopt);
  CHECK(Split("'abc\\'") == std::nullopt);
  CHECK(Split("\"") == std::nullopt);
}

TEST_CASE("inline args: a NUL byte is an ordinary character") {
  CHECK(Split(std::string_view("a\0b c", 5)) == Args{std::string("a\0b", 3), "c"});
}

TEST_CASE("inline args: storage strings are reused and argc counts the used ones") {
  std::vector<std::string> storage = {"old0", "old1", "old2"};
  size_t argc = 99;
  REQUIRE(SplitInlineArgs("x y", &storage, &argc));
  CHECK(argc == 2);
  CHECK(storage.size() == 3);
  CHECK(storage[0] == "x");
  CHECK(storage[1] == "y");
  REQUIRE(SplitInlineArgs("a b c d", &storage, &argc));
  CHECK(argc == 4);
  CHECK(storage[3] == "d");
}

}  // namespace
}  // namespace ringkv::resp
