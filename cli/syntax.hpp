// The expression language's pieces below the parser, shared by the files of cli/ that
// implement cli/expr.hpp (not part of its interface): places in the source and tokens.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace gradlab::cli::detail {

// ---- positions in the source ----

bool is_continuation_byte(char c);

// Columns count characters, not bytes, so that the caret lands under `ŷ` correctly.
std::size_t count_characters(const std::string& text, std::size_t from, std::size_t to);

struct Position {
  std::size_t line = 1, column = 1;  // both 1-based
  std::size_t line_begin = 0, line_end = 0;
};

Position locate(const std::string& source, std::size_t offset);
// "column 7", or "line 2, column 7" for a source of several lines.
std::string where(const std::string& source, const Position& p);

// ---- tokens ----

struct Token {
  enum class Kind { number, name, string, symbol, end };
  Kind kind;
  std::string text;  // a name, a string's contents, or a symbol such as "@"
  double number = 0;
  std::size_t begin = 0, end = 0;
};

bool is_comparison(const std::string& op);

// Throws ExprError (syntax) at the first character that starts no token.
std::vector<Token> tokenize(const std::string& s);

// "the name 'x'", "the number 2", "'@'": a token as an error message names it.
std::string describe(const Token& t);

}  // namespace gradlab::cli::detail
