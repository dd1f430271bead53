// The expression language, first job: reading characters as tokens, and placing a
// position of the source for messages (the caret under a syntax error).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>

#include "cli/expr.hpp"
#include "cli/syntax.hpp"

namespace gradlab::cli {

namespace detail {

// ---- positions in the source ----

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::size_t count_characters(const std::string& text, std::size_t from, std::size_t to) {
  std::size_t n = 0;
  for (std::size_t i = from; i < to && i < text.size(); ++i) n += !is_continuation_byte(text[i]);
  return n;
}


Position locate(const std::string& source, std::size_t offset) {
  offset = std::min(offset, source.size());
  Position p;
  for (std::size_t i = 0; i < offset; ++i)
    if (source[i] == '\n') {
      ++p.line;
      p.line_begin = i + 1;
    }
  p.column = count_characters(source, p.line_begin, offset) + 1;
  p.line_end = source.find('\n', p.line_begin);
  if (p.line_end == std::string::npos) p.line_end = source.size();
  return p;
}

std::string where(const std::string& source, const Position& p) {
  const bool one_line = source.find('\n') == std::string::npos;
  return (one_line ? "" : "line " + std::to_string(p.line) + ", ") + "column " +
         std::to_string(p.column);
}

// ---- tokens ----

// Operators as they appear in typeset formulas, read as their ASCII spelling.
struct Alias {
  const char* typeset;
  const char* ascii;
};
constexpr Alias typeset_operators[] = {{"∘", "*"}, {"·", "@"}, {"−", "-"},
                                       {"≥", ">="}, {"≤", "<="}, {"≠", "!="}};

bool is_comparison(const std::string& op) {
  return op == ">" || op == "<" || op == ">=" || op == "<=" || op == "==" || op == "!=";
}

const Alias* alias_at(const std::string& s, std::size_t i) {
  for (const Alias& a : typeset_operators)
    if (s.compare(i, std::strlen(a.typeset), a.typeset) == 0) return &a;
  return nullptr;
}

bool starts_name(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;  // letters such as ŷ, δ, W₁
}
bool continues_name(char c) { return starts_name(c) || std::isdigit(static_cast<unsigned char>(c)); }
bool is_digit(const std::string& s, std::size_t i) {
  return i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]));
}

std::vector<Token> tokenize(const std::string& s) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const std::size_t start = i;
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (const Alias* a = alias_at(s, i)) {
      i += std::strlen(a->typeset);
      tokens.push_back({Token::Kind::symbol, a->ascii, 0, start, i});
    } else if (s.compare(i, 3, "...") == 0) {  // x[..., 0]: as many ':' as the axes left
      i += 3;
      tokens.push_back({Token::Kind::symbol, "...", 0, start, i});
    } else if (is_digit(s, i) || (c == '.' && is_digit(s, i + 1))) {
      while (is_digit(s, i)) ++i;
      if (i < s.size() && s[i] == '.') ++i;
      while (is_digit(s, i)) ++i;
      if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {  // an exponent: 1e-3, 2.5E+4
        std::size_t j = i + 1;
        if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
        if (is_digit(s, j)) {
          i = j;
          while (is_digit(s, i)) ++i;
        }
      }
      double value = 0;
      if (std::from_chars(s.data() + start, s.data() + i, value).ec == std::errc::result_out_of_range)
        value = std::strtod(s.substr(start, i - start).c_str(), nullptr);  // 1e-400: 0, as C reads it
      if (!std::isfinite(value))  // 1e309: from_chars leaves `value` as it was, 0
        throw ExprError("the number " + s.substr(start, i - start) +
                            " is too large for a double (the largest is about 1.8e308)",
                        start);
      if (i < s.size() && starts_name(s[i]) && !alias_at(s, i))
        throw ExprError("a number cannot be followed directly by a name (write " +
                            s.substr(start, i - start) + " * …)",
                        i, true);
      tokens.push_back({Token::Kind::number, s.substr(start, i - start), value, start, i});
    } else if (starts_name(c)) {
      while (i < s.size() && continues_name(s[i]) && !alias_at(s, i)) ++i;
      tokens.push_back({Token::Kind::name, s.substr(start, i - start), 0, start, i});
    } else if (c == '"' || c == '\'') {
      const std::size_t close = s.find(c, i + 1);
      if (close == std::string::npos) throw ExprError("this string is never closed", start, true);
      i = close + 1;
      tokens.push_back({Token::Kind::string, s.substr(start + 1, close - start - 1), 0, start, i});
    } else if (c != '\0' && std::strchr("<>=!", c) && i + 1 < s.size() && s[i + 1] == '=') {
      i += 2;  // >= <= == !=
      tokens.push_back({Token::Kind::symbol, s.substr(start, 2), 0, start, i});
    } else if (c == '!') {
      throw ExprError("unexpected character '!' (not equal is written !=)", start, true);
    } else if (c != '\0' && std::strchr("+-*/@^(),;=[]<>:", c)) {
      ++i;
      tokens.push_back({Token::Kind::symbol, std::string(1, c), 0, start, i});
    } else {
      std::size_t length = 1;
      while (start + length < s.size() && is_continuation_byte(s[start + length])) ++length;
      throw ExprError("unexpected character '" + printable(s.substr(start, length)) + "'", start,
                      true);
    }
  }
  tokens.push_back({Token::Kind::end, "", 0, s.size(), s.size()});
  return tokens;
}

std::string describe(const Token& t) {
  switch (t.kind) {
    case Token::Kind::number:
      return "the number " + t.text;
    case Token::Kind::name:
      return "the name '" + t.text + "'";
    case Token::Kind::string:
      return "the string \"" + printable(t.text) + "\"";
    case Token::Kind::symbol:
      return "'" + t.text + "'";
    case Token::Kind::end:
      break;
  }
  return "the end of the expression";
}

}  // namespace detail

using namespace detail;

std::string explain(const ExprError& error, const std::string& source) {
  const Position p = locate(source, error.offset);
  if (!error.syntax) {
    const std::string in = error.snippet.empty() ? "" : "in '" + error.snippet + "', ";
    return std::string(error.what()) + " (" + in + where(source, p) + ")";
  }
  // The line with the mistake, and a caret under it (tabs copied so that it lines up). Any
  // other control character (a NUL, a carriage return) is shown as one '�', so that the line
  // prints whole and the caret still counts one column for it.
  std::string line;
  for (std::size_t i = p.line_begin; i < p.line_end; ++i) {
    const auto byte = static_cast<unsigned char>(source[i]);
    line += (byte < 0x20 && byte != '\t') || byte == 0x7f ? "\uFFFD" : std::string(1, source[i]);
  }
  std::string caret;
  for (std::size_t i = p.line_begin; i < std::min(error.offset, p.line_end); ++i)
    if (!is_continuation_byte(source[i])) caret += source[i] == '\t' ? '\t' : ' ';
  return "syntax error at " + where(source, p) + ": " + error.what() + "\n    " + line + "\n    " +
         caret + "^";
}

namespace {

// The length of the well-formed UTF-8 sequence of two to four bytes at text[i], or 0 if
// there is none there (a stray continuation byte, a cut or overlong sequence, a surrogate).
std::size_t utf8_sequence(const std::string& text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  const std::size_t length = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3
                             : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
  if (length == 0 || i + length > text.size()) return 0;
  // The second byte's range narrows for E0 (no overlong), ED (no surrogate), F0, F4.
  const unsigned char low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
  const unsigned char high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k)
    if (!is_continuation_byte(text[i + k])) return 0;
  return length;
}

}  // namespace

std::string printable(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80) {
      if (const std::size_t n = utf8_sequence(text, i)) {
        out.append(text, i, n);  // UTF-8 (ŷ, δ) as it is
        i += n - 1;
        continue;
      }
    }
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (byte < 0x20 || byte >= 0x7f) {  // a control character, or a byte that is not UTF-8
      const char digits[] = "0123456789abcdef";
      out += {'\\', 'x', digits[byte >> 4], digits[byte & 15]};
    } else {
      out += c;
    }
  }
  return out;
}

bool is_name(const std::string& text) {
  if (text.empty() || !starts_name(text[0])) return false;
  for (std::size_t i = 0; i < text.size(); ++i)
    if (!continues_name(text[i]) || alias_at(text, i)) return false;
  return true;
}

}  // namespace gradlab::cli
