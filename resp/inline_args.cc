// resp/inline_args.cc: SplitInlineArgs, Redis's sdssplitargs over a
// string_view.
//
// Redis's rules, kept on purpose because clients (and telnet users) depend
// on them:
//   - blanks (isspace in the C locale) separate arguments;
//   - outside quotes only ' ', '\t', '\r' and '\n' end an argument, so '\v'
//     and '\f' inside a word are kept;
//   - a quote in the middle of a word starts a quoted part of that word;
//   - a closing quote must be followed by a blank or the end of the line.
// One deliberate difference: a NUL byte is an ordinary character. Redis
// works on C strings and never reaches this code with a NUL in the line.
#include <string>
#include <string_view>
#include <vector>

#include "resp/parser.h"

namespace ringkv::resp {
namespace {

enum class Quote { kNone, kDouble, kSingle };

bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char HexValue(char c) {
  if (c >= '0' && c <= '9') return static_cast<char>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<char>(c - 'a' + 10);
  return static_cast<char>(c - 'A' + 10);
}

char Unescape(char c) {
  switch (c) {
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'b':
      return '\b';
    case 'a':
      return '\a';
    default:
      return c;  // \\, \" and any other escaped byte stand for themselves.
  }
}

// True if the closing quote at line[i] is followed by a blank or the end.
bool ClosingQuoteOk(std::string_view line, size_t i) {
  return i + 1 == line.size() || IsBlank(line[i + 1]);
}

// One step inside double quotes. Returns false on a bad closing quote or
// at the end of the line (an unterminated quote).
bool StepDoubleQuoted(std::string_view line, size_t* i, std::string* token, Quote* quote) {
  const size_t n = line.size();
  if (*i == n) return false;
  char c = line[*i];
  if (c == '\\' && *i + 3 < n && line[*i + 1] == 'x' && IsHexDigit(line[*i + 2]) &&
      IsHexDigit(line[*i + 3])) {
    token->push_back(static_cast<char>(HexValue(line[*i + 2]) * 16 + HexValue(line[*i + 3])));
    *i += 4;
  } else if (c == '\\' && *i + 1 < n) {
    token->push_back(Unescape(line[*i + 1]));
    *i += 2;
  } else if (c == '"') {
    if (!ClosingQuoteOk(line, *i)) return false;
    *quote = Quote::kNone;
    *i += 1;
  } else {
    token->push_back(c);
    *i += 1;
  }
  return true;
}

// One step inside single quotes, where only \' is an escape.
bool StepSingleQuoted(std::string_view line, size_t* i, std::string* token, Quote* quote) {
  const size_t n = line.size();
  if (*i == n) return false;
  char c = line[*i];
  if (c == '\\' && *i + 1 < n && line[*i + 1] == '\'') {
    token->push_back('\'');
    *i += 2;
  } else if (c == '\'') {
    if (!ClosingQuoteOk(line, *i)) return false;
    *quote = Quote::kNone;
    *i += 1;
  } else {
    token->push_back(c);
    *i += 1;
  }
  return true;
}

// Reads the argument starting at line[*i] (not a blank) into *token and
// leaves *i after it. Returns false on unbalanced quotes.
bool ReadToken(std::string_view line, size_t* i, std::string* token) {
  Quote quote = Quote::kNone;
  // Each step consumes at least one byte, so this ends within line.size().
  while (true) {
    if (quote == Quote::kDouble) {
      if (!StepDoubleQuoted(line, i, token, &quote)) return false;
      // A closing quote ends the argument (Redis sets done there).
      if (quote == Quote::kNone) return true;
      continue;
    }
    if (quote == Quote::kSingle) {
      if (!StepSingleQuoted(line, i, token, &quote)) return false;
      if (quote == Quote::kNone) return true;
      continue;
    }
    if (*i == line.size()) return true;
    char c = line[(*i)++];
    switch (c) {
      case ' ':
      case '\n':
      case '\r':
      case '\t':
        return true;
      case '"':
        quote = Quote::kDouble;
        break;
      case '\'':
        quote = Quote::kSingle;
        break;
      default:
        token->push_back(c);
        break;
    }
  }
}

}  // namespace

bool SplitInlineArgs(std::string_view line, std::vector<std::string>* args, size_t* argc) {
  *argc = 0;
  size_t i = 0;
  // Each token consumes at least one byte, so at most line.size() tokens.
  while (true) {
    while (i < line.size() && IsBlank(line[i])) i++;
    if (i == line.size()) return true;
    if (*argc == args->size()) args->emplace_back();
    std::string& token = (*args)[*argc];
    token.clear();
    if (!ReadToken(line, &i, &token)) return false;
    ++*argc;
  }
}

}  // namespace ringkv::resp
