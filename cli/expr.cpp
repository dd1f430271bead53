#include "cli/expr.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iomanip>
#include <optional>
#include <sstream>

#include "cli/json_io.hpp"
#include "engine/errors.hpp"
#include "engine/graph.hpp"
#include "ops/compare.hpp"
#include "ops/conv.hpp"
#include "ops/elementwise.hpp"
#include "ops/indexing.hpp"
#include "ops/join.hpp"
#include "ops/layers.hpp"
#include "ops/linalg.hpp"
#include "ops/loss.hpp"
#include "ops/matmul.hpp"
#include "ops/pad.hpp"
#include "ops/pool.hpp"
#include "ops/reduce.hpp"
#include "ops/reductions.hpp"
#include "ops/shape.hpp"

namespace gradlab::cli {

namespace {

// ---- positions in the source ----

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Columns count characters, not bytes, so that the caret lands under `ŷ` correctly.
std::size_t count_characters(const std::string& text, std::size_t from, std::size_t to) {
  std::size_t n = 0;
  for (std::size_t i = from; i < to && i < text.size(); ++i) n += !is_continuation_byte(text[i]);
  return n;
}

struct Position {
  std::size_t line = 1, column = 1;  // both 1-based
  std::size_t line_begin = 0, line_end = 0;
};

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

struct Token {
  enum class Kind { number, name, string, symbol, end };
  Kind kind;
  std::string text;  // a name, a string's contents, or a symbol such as "@"
  double number = 0;
  std::size_t begin = 0, end = 0;
};

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

// ---- parsing: one function per grammar rule (see expr.hpp) ----

class Parser {
 public:
  explicit Parser(const std::string& source) : source_(source), tokens_(tokenize(source)) {}

  Program program() {
    Program p;
    p.source = source_;
    if (peek().kind == Token::Kind::end) fail("the expression is empty", peek());
    while (true) {
      if (peek().kind == Token::Kind::name && is(peek(1), "=")) {
        const Token name = take();
        take();  // '='
        p.steps.push_back({name.text, comparison()});
        if (peek().kind != Token::Kind::end)
          expect(";", "after the step '" + name.text + " = …' (or an operator)");
        if (peek().kind == Token::Kind::end) break;
        continue;
      }
      p.value = comparison();
      if (is(peek(), ";")) take();
      if (peek().kind != Token::Kind::end)
        fail(std::string("expected an operator or the end of the expression") +
                 (is(tokens_[pos_ - 1], ";") ? " (only the last part may be unnamed: name the "
                                               "earlier ones, as in 'h = …;')"
                                             : ""),
             peek());
      return p;
    }
    // Ends with a step: its value is the program's value.
    const Step& last = p.steps.back();
    p.value = Expr{.kind = Expr::Kind::name, .text = last.name, .offset = last.value.offset,
                   .begin = last.value.begin, .end = last.value.end};
    return p;
  }

 private:
  // Loosest of all, as in C and Python: x - 1 > 0 is (x - 1) > 0.
  Expr comparison() {
    Expr left = sum();
    if (peek().kind != Token::Kind::symbol || !is_comparison(peek().text)) return left;
    left = binary(std::move(left), &Parser::sum);
    if (peek().kind == Token::Kind::symbol && is_comparison(peek().text))
      fail("comparisons cannot be chained (a < b < c means different things in C and Python): "
           "write (a < b) * (b < c) for both",
           peek());
    return left;
  }

  Expr sum() {
    const Nesting nested(*this, peek());
    Expr left = product();
    while (is(peek(), "+") || is(peek(), "-")) left = binary(std::move(left), &Parser::product);
    return left;
  }

  Expr product() {
    Expr left = unary();
    while (is(peek(), "*") || is(peek(), "/") || is(peek(), "@"))
      left = binary(std::move(left), &Parser::unary);
    return left;
  }

  Expr unary() {
    if (!is(peek(), "-")) return power();
    const Token minus = take();
    const Nesting nested(*this, minus);
    Expr operand = unary();
    const std::size_t end = operand.end;
    return capped(Expr{.kind = Expr::Kind::negate, .args = {std::move(operand)},
                       .offset = minus.begin, .begin = minus.begin, .end = end});
  }

  Expr power() {
    Expr base = subscripted();
    if (!is(peek(), "^")) return base;
    const Nesting nested(*this, peek());  // x^1^1^…: each ^ recurses through unary()
    return binary(std::move(base), &Parser::unary);  // the exponent may itself be -1 or x^2
  }

  // left OP right, where `right` parses the operand on the right of OP.
  Expr binary(Expr left, Expr (Parser::*right)()) {
    const Token op = take();
    Expr r = (this->*right)();
    const std::size_t begin = left.begin, end = r.end;
    return capped(Expr{.kind = Expr::Kind::binary, .text = op.text,
                       .args = {std::move(left), std::move(r)}, .offset = op.begin,
                       .begin = begin, .end = end});
  }

  Expr primary() {
    const Token t = peek();
    switch (t.kind) {
      case Token::Kind::number:
        take();
        return Expr{.kind = Expr::Kind::number, .number = t.number, .text = t.text,
                    .offset = t.begin, .begin = t.begin, .end = t.end};
      case Token::Kind::string:
        take();
        return Expr{.kind = Expr::Kind::string, .text = t.text, .offset = t.begin,
                    .begin = t.begin, .end = t.end};
      case Token::Kind::name:
        take();
        if (is(peek(), "(")) return call(t);
        return Expr{.kind = Expr::Kind::name, .text = t.text, .offset = t.begin, .begin = t.begin,
                    .end = t.end};
      case Token::Kind::symbol:
        if (t.text == "(") {
          take();
          Expr inner = comparison();
          expect(")", "to close the '(' at " + where(source_, locate(source_, t.begin)));
          return inner;
        }
        if (t.text == "[") return list();
        break;
      case Token::Kind::end:
        break;
    }
    fail("expected a number, a name or '(', found " + describe(t), t);
  }

  // primary { '[' item { ',' item } ']' }: x[0], x[1:-1, ::2], x[idx], x[0][1].
  Expr subscripted() {
    Expr e = primary();
    while (is(peek(), "[")) {
      const Token open = take();
      const Nesting nested(*this, open);
      Expr s{.kind = Expr::Kind::subscript, .offset = open.begin, .begin = e.begin};
      s.args.push_back(std::move(e));
      if (is(peek(), "]")) fail("expected an index or a slice such as 1:3 inside '[ ]'", peek());
      while (true) {
        s.args.push_back(subscript_item());
        if (!is(peek(), ",")) break;
        take();
      }
      expect("]", "to close the '[' at " + where(source_, locate(source_, open.begin)) + " (or ',')");
      s.end = tokens_[pos_ - 1].end;
      e = capped(std::move(s));
    }
    return e;
  }

  // An index (any expression) or a slice [start] ':' [stop] [':' [step]], whose parts
  // present are named in `keywords`.
  Expr subscript_item() {
    const Token first = peek();
    if (is(first, "...")) {
      take();
      return Expr{.kind = Expr::Kind::name, .text = "...", .offset = first.begin,
                  .begin = first.begin, .end = first.end};
    }
    Expr start;
    const bool has_start = !is(first, ":");
    if (has_start) start = comparison();
    if (!is(peek(), ":")) return start;
    Expr slice{.kind = Expr::Kind::slice, .offset = first.begin, .begin = first.begin};
    if (has_start) {
      slice.args.push_back(std::move(start));
      slice.keywords.push_back("start");
    }
    const auto ends_part = [this] { return is(peek(), ":") || is(peek(), ",") || is(peek(), "]"); };
    for (const char* part : {"stop", "step"}) {
      if (!is(peek(), ":")) break;
      take();
      if (ends_part()) continue;
      slice.args.push_back(comparison());
      slice.keywords.push_back(part);
    }
    if (is(peek(), ":")) fail("a slice has at most three parts, start:stop:step", peek());
    slice.end = tokens_[pos_ - 1].end;
    return capped(std::move(slice));
  }

  Expr call(const Token& name) {
    const Token open = take();  // '('
    Expr e{.kind = Expr::Kind::call, .text = name.text, .offset = name.begin, .begin = name.begin};
    if (!is(peek(), ")")) {
      while (true) {
        std::string keyword;
        if (peek().kind == Token::Kind::name && is(peek(1), "=")) {
          keyword = take().text;
          take();
        } else if (!e.keywords.empty() && !e.keywords.back().empty()) {
          fail("a positional argument cannot follow a keyword argument", peek());
        }
        e.args.push_back(comparison());
        e.keywords.push_back(keyword);
        if (!is(peek(), ",")) break;
        take();
      }
    }
    expect(")", "to close the argument list of " + name.text + "( at " +
                    where(source_, locate(source_, open.begin)) + " (or ',')");
    e.end = tokens_[pos_ - 1].end;
    return capped(std::move(e));
  }

  Expr list() {
    const Token open = take();  // '['
    Expr e{.kind = Expr::Kind::list, .offset = open.begin, .begin = open.begin};
    if (!is(peek(), "]")) {
      while (true) {
        e.args.push_back(comparison());
        if (!is(peek(), ",")) break;
        take();
      }
    }
    expect("]", "to close the '[' at " + where(source_, locate(source_, open.begin)));
    e.end = tokens_[pos_ - 1].end;
    return capped(std::move(e));
  }

  // Counts how deeply the parser has recursed (parentheses, arguments, unary minus).
  struct Nesting {
    Nesting(Parser& p, const Token& at) : parser(p) {
      if (++parser.nesting_ > max_height) parser.fail("the expression is nested too deeply", at);
    }
    ~Nesting() { --parser.nesting_; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;
    Parser& parser;
  };

  // e, with its height set; refused when it is too tall to evaluate safely.
  Expr capped(Expr e) const {
    for (const Expr& a : e.args) e.height = std::max(e.height, a.height + 1);
    if (e.height > max_height)
      throw ExprError("the expression is nested too deeply (more than " +
                          std::to_string(max_height) + " levels)",
                      e.offset, true);
    return e;
  }

  static bool is(const Token& t, const char* symbol) {
    return t.kind == Token::Kind::symbol && t.text == symbol;
  }
  const Token& peek(std::size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  Token take() {
    const Token t = peek();
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  void expect(const char* symbol, const std::string& context) {
    if (!is(peek(), symbol))
      fail("expected '" + std::string(symbol) + "' " + context + ", found " + describe(peek()),
           peek());
    take();
  }
  [[noreturn]] void fail(const std::string& message, const Token& at) const {
    throw ExprError(message, at.begin, true);
  }

  const std::string& source_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  std::size_t nesting_ = 0;
};

// ---- evaluating ----

// "did you mean 'sigmoid'?" — the closest candidate within two edits, if any.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitute = diagonal + (a[i - 1] != b[j - 1]);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitute});
    }
  }
  return row[b.size()];
}

std::string suggestion(const std::string& wrong, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = 3;
  for (const std::string& c : candidates) {
    const std::size_t d = edit_distance(wrong, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best.empty() ? "" : ", did you mean '" + best + "'?";
}

std::string snippet(const std::string& source, const Expr& e) {
  std::string text;
  for (std::size_t i = e.begin; i < e.end && i < source.size(); ++i) {
    const bool space = std::isspace(static_cast<unsigned char>(source[i]));
    if (!space || (!text.empty() && text.back() != ' ')) text += space ? ' ' : source[i];
  }
  constexpr std::size_t limit = 48;
  if (text.size() > limit) {
    std::size_t cut = limit;
    while (cut > 0 && is_continuation_byte(text[cut])) --cut;
    text = text.substr(0, cut) + "…";
  }
  return text;
}

// Products and sliding windows cost more than their output's size, which the limit on
// tensor sizes does not bound: conv2d of a 3000×3000 image with a 1500×1500 kernel is 5·10¹²
// multiply-adds (and its im2col buffer holds as many numbers), a [3000, 3000] @ [3000, 3000]
// 2.7·10¹⁰. Each is refused above this estimate (an upper bound: stride and dilation only
// lower the true cost), far above what a learner checks: 16 channels of 28×28 with 16 3×3
// kernels is 1.8·10⁶.
constexpr double max_work = 1e7;

std::string too_much_work(double work) {
  std::ostringstream message;
  message << std::setprecision(2) << "about " << work << " multiply-adds, more than the "
          << max_work << " allowed here (smaller tensors or kernels)";
  return message.str();
}

// [… m, k] @ [… k, n]: m·k·n for each product of the broadcast batch (a vector: m or n = 1).
double matmul_work(const Tensor& a, const Tensor& b) {
  const Shape &sa = a.shape(), &sb = b.shape();
  const std::size_t batch_a = sa.size() > 2 ? sa.size() - 2 : 0;
  const std::size_t batch_b = sb.size() > 2 ? sb.size() - 2 : 0;
  double work = 1;
  for (std::size_t d = 0; d < std::max(batch_a, batch_b); ++d)  // from the innermost batch axis
    work *= static_cast<double>(std::max(d < batch_a ? sa[batch_a - 1 - d] : 1,
                                         d < batch_b ? sb[batch_b - 1 - d] : 1));
  const auto size = [](const Shape& s, std::size_t from_end) {
    return s.size() >= from_end ? static_cast<double>(s[s.size() - from_end]) : 1.0;
  };
  return work * size(sa, 2) * size(sa, 1) * (sb.size() >= 2 ? size(sb, 1) : 1.0);
}

class Evaluator;

// A call's arguments, bound to the function's parameters by position or keyword, and read
// as the function needs them: a tensor, a number, a pair of sizes, a word such as `reflect`.
class Arguments {
 public:
  Arguments(Evaluator& evaluator, const std::string& function)
      : evaluator_(evaluator), function_(function) {}

  std::vector<const Expr*>& slot(const std::string& parameter) { return bound_[parameter]; }

  bool has(const char* parameter) const { return bound_.count(parameter) > 0; }
  Tensor tensor(const char* parameter);
  Tensor optional_tensor(const char* parameter) { return has(parameter) ? tensor(parameter) : Tensor(); }
  double number(const char* parameter);
  std::int64_t integer(const char* parameter, std::optional<std::int64_t> fallback = {});
  bool flag(const char* parameter, bool fallback);
  Pair pair(const char* parameter, Pair fallback);
  Padding padding(const char* parameter);
  Shape sizes(const char* parameter);
  std::vector<Tensor> tensors(const char* parameter);
  std::string word(const char* parameter, const std::vector<std::string>& allowed,
                   const std::string& fallback);
  PadMode pad_mode(const char* parameter);
  DType dtype() const;  // the document's: for tensors a function makes, such as eye(3)
  const Expr& expr(const char* parameter) const { return *bound_.at(parameter).front(); }
  [[noreturn]] void fail(const Expr& at, const std::string& message) const {
    throw ExprError(function_ + ": " + message, at.offset);
  }

 private:
  std::int64_t whole(const Expr& e, const std::string& what);

  Evaluator& evaluator_;
  const std::string& function_;
  std::map<std::string, std::vector<const Expr*>> bound_;
};

struct Builtin {
  const char* name;
  std::vector<const char*> required;  // parameters, in positional order
  std::vector<const char*> optional;  // … then these
  const char* meaning;                // for --help
  std::function<Value(Arguments&)> apply;
  bool last_takes_the_rest = false;   // reshape(x, 2, 3): the last parameter takes 2 and 3
};

const std::vector<Builtin>& builtins();

class Evaluator {
 public:
  Evaluator(const std::string& source, Env& env) : source_(source), env_(env) {}

  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::number:
        return e.number;
      case Expr::Kind::name:
        return lookup(e);
      case Expr::Kind::string:
        throw ExprError("a string is only an option's value, as in padding_mode=\"reflect\"",
                        e.offset);
      case Expr::Kind::list:
        throw ExprError("a list [ … ] is only for sizes, as in stride=[2, 1], and for the "
                        "tensors that concat and stack join, as in concat([a, b])",
                        e.offset);
      case Expr::Kind::negate:
        return negate(e);
      case Expr::Kind::binary:
        return binary(e);
      case Expr::Kind::call:
        return call(e);
      case Expr::Kind::subscript:
        return subscript(e);
      case Expr::Kind::slice:  // (the parser makes them only inside a subscript)
        throw ExprError("a slice start:stop:step is only for subscripts, as in x[1:3]", e.offset);
    }
    throw ExprError("unknown kind of expression", e.offset);
  }

  Tensor tensor(const Expr& e) { return as_tensor(eval(e), env_.dtype); }
  DType dtype() const { return env_.dtype; }

  // A plain number: a literal, arithmetic on literals, or a one-element constant.
  double number(const Expr& e, const std::string& what) {
    const Value v = eval(e);
    if (const double* d = std::get_if<double>(&v)) return *d;
    const Tensor& t = std::get<Tensor>(v);
    if (t.numel() == 1 && !t.requires_grad()) return t.item();
    throw ExprError(what + " must be a plain number, not a tensor of shape " + to_string(t.shape()),
                    e.offset);
  }

  // Runs `f`; an error an op raises is reported at `e`, with the part of the source it is in.
  template <class F>
  Value guarded(const Expr& e, F&& f) {
    try {
      return f();
    } catch (const gradlab::Error& error) {
      throw ExprError(error.what(), e.offset, false, snippet(source_, e));
    }
  }

 private:
  Value lookup(const Expr& e) {
    const auto found = env_.names.find(e.text);
    if (found != env_.names.end()) return found->second;
    std::vector<std::string> known;
    for (const auto& [name, value] : env_.names) known.push_back(name);
    for (const Builtin& b : builtins())
      if (e.text == b.name)
        throw ExprError("'" + e.text + "' is a function: call it as " + e.text + "(…)", e.offset);
    std::string message = "unknown name '" + e.text + "'" + suggestion(e.text, known);
    if (message.back() != '?') {
      message += " (known: ";
      for (std::size_t i = 0; i < known.size(); ++i) message += (i ? ", " : "") + known[i];
      message += known.empty() ? "nothing)" : "; add it to \"inputs\" or \"constants\")";
    }
    throw ExprError(message, e.offset);
  }

  Value negate(const Expr& e) {
    const Value v = eval(e.args[0]);
    if (const double* d = std::get_if<double>(&v)) return -*d;
    return guarded(e, [&] { return Value(-std::get<Tensor>(v)); });
  }

  Value binary(const Expr& e) {
    const Value left = eval(e.args[0]);
    const char op = e.text[0];
    if (op == '^') {  // pow(x, p) takes p as a number: d/dx xᵖ = p·xᵖ⁻¹
      const double p = number(e.args[1], "the exponent of ^");
      if (const double* d = std::get_if<double>(&left)) return std::pow(*d, p);
      return guarded(e, [&] { return Value(pow(std::get<Tensor>(left), p)); });
    }
    const Value right = eval(e.args[1]);
    if (is_comparison(e.text)) return compare(e, left, right);
    return guarded(e, [&] {
      // Two numbers give a number; with a tensor on either side, gradlab's overloads (which
      // take a plain number on either side) record the op.
      return std::visit(
          [&](const auto& a, const auto& b) -> Value {
            switch (op) {
              case '@': return product(as_tensor(a, env_.dtype), as_tensor(b, env_.dtype), e);
              case '+': return a + b;
              case '-': return a - b;
              case '*': return a * b;
              default: return a / b;
            }
          },
          left, right);
    });
  }

  // A 0/1 tensor (a plain 0 or 1 for two numbers), carrying no gradient.
  Value compare(const Expr& e, const Value& left, const Value& right) {
    const std::string& op = e.text;
    const auto holds = [&](double a, double b) {
      return op == ">" ? a > b : op == "<" ? a < b : op == ">=" ? a >= b : op == "<=" ? a <= b
             : op == "==" ? a == b : a != b;
    };
    const double* a = std::get_if<double>(&left);
    const double* b = std::get_if<double>(&right);
    if (a && b) return holds(*a, *b) ? 1.0 : 0.0;
    return guarded(e, [&] {
      const Tensor x = as_tensor(left, env_.dtype), y = as_tensor(right, env_.dtype);
      if (op == ">") return Value(greater(x, y));
      if (op == "<") return Value(less(x, y));
      if (op == ">=") return Value(greater_equal(x, y));
      if (op == "<=") return Value(less_equal(x, y));
      if (op == "==") return Value(equal(x, y));
      return Value(not_equal(x, y));
    });
  }

  // x[s₀, s₁, …] as torch reads it (ops/indexing.hpp): a number selects (its axis is
  // dropped), a slice slices, a tensor of indices picks; x[arange(n), y] picks x[i, y[i]];
  // None is a new axis of size 1 and ... as many ':' as the other subscripts leave.
  Value subscript(const Expr& e) {
    const Value base = eval(e.args[0]);
    std::vector<Subscript> items;
    for (std::size_t i = 1; i < e.args.size(); ++i) {
      const Expr& item = e.args[i];
      if (item.kind == Expr::Kind::slice) {
        Slice s;
        for (std::size_t k = 0; k < item.args.size(); ++k) {
          const std::string& part = item.keywords[k];
          const double v = number(item.args[k], "a slice's " + part);
          if (v != std::floor(v))
            throw ExprError("a slice's " + part + " must be a whole number, got " +
                                (std::ostringstream() << v).str(),
                            item.args[k].offset);
          // (Bounds past either end are clamped anyway; so is a step past any axis.)
          const auto whole = static_cast<std::int64_t>(std::clamp(v, -1e15, 1e15));
          if (part == "start")
            s.start = whole;
          else if (part == "stop")
            s.stop = whole;
          else
            s.step = whole;
        }
        items.emplace_back(s);
        continue;
      }
      if (item.kind == Expr::Kind::name && (item.text == "..." || item.text == "None")) {
        if (item.text == "...") items.emplace_back(all_axes);
        else items.emplace_back(new_axis);  // torch's None: a new axis of size 1
        continue;
      }
      const Value v = eval(item);
      const double* d = std::get_if<double>(&v);
      if (d && *d == std::floor(*d) && std::abs(*d) <= 1e15)
        items.emplace_back(static_cast<std::int64_t>(*d));
      else  // a tensor of indices; or a number the op refuses, naming it (0.5, 1e300)
        items.emplace_back(as_tensor(v, env_.dtype));
    }
    const Tensor x = as_tensor(base, env_.dtype);
    return guarded(e, [&] { return Value(gradlab::index(x, items)); });
  }

  Value product(const Tensor& a, const Tensor& b, const Expr& e) {
    if (const double work = matmul_work(a, b); work > max_work)
      throw ExprError(too_much_work(work), e.offset, false, snippet(source_, e));
    return matmul(a, b);
  }

  Value call(const Expr& e) {
    const auto& all = builtins();
    const auto fn = std::find_if(all.begin(), all.end(),
                                 [&](const Builtin& b) { return e.text == b.name; });
    if (fn == all.end()) {
      std::vector<std::string> names;
      for (const Builtin& b : all) names.push_back(b.name);
      std::string message = "unknown function '" + e.text + "'";
      if (env_.names.count(e.text))
        message += ": '" + e.text + "' is a tensor (write * or @ for a product)";
      else if (const std::string close = suggestion(e.text, names); !close.empty())
        message += close;
      else
        message += "; gradlab --help lists the functions";
      throw ExprError(message, e.offset);
    }
    Arguments args(*this, e.text);
    bind(*fn, e, args);
    return guarded(e, [&] { return fn->apply(args); });
  }

  // Positional arguments fill the parameters in order, keywords by name.
  void bind(const Builtin& fn, const Expr& e, Arguments& args) {
    std::vector<const char*> parameters = fn.required;
    parameters.insert(parameters.end(), fn.optional.begin(), fn.optional.end());
    std::string signature = std::string(fn.name) + "(";
    for (std::size_t i = 0; i < parameters.size(); ++i)
      signature += (i ? ", " : "") + std::string(parameters[i]) +
                   (fn.last_takes_the_rest && i + 1 == parameters.size() ? "…" : "");
    signature += ")";
    std::size_t positional = 0;
    for (std::size_t i = 0; i < e.args.size(); ++i) {
      const std::string& keyword = e.keywords[i];
      std::string parameter;
      if (keyword.empty()) {
        if (positional < parameters.size())
          parameter = parameters[positional++];
        else if (fn.last_takes_the_rest && !parameters.empty())
          parameter = parameters.back();
        else
          throw ExprError(std::string(fn.name) + " takes at most " +
                              std::to_string(parameters.size()) + " argument" +
                              (parameters.size() == 1 ? "" : "s") + ", got " +
                              std::to_string(e.args.size()) + ": " + signature,
                          e.args[i].offset);
      } else {
        if (std::none_of(parameters.begin(), parameters.end(),
                         [&](const char* p) { return keyword == p; }))
          throw ExprError(std::string(fn.name) + " has no argument '" + keyword + "': " + signature,
                          e.args[i].offset);
        if (args.has(keyword.c_str()))
          throw ExprError(std::string(fn.name) + ": argument '" + keyword + "' is given twice",
                          e.args[i].offset);
        parameter = keyword;
      }
      args.slot(parameter).push_back(&e.args[i]);
    }
    for (const char* p : fn.required)
      if (!args.has(p))
        throw ExprError(std::string(fn.name) + " needs " + std::to_string(fn.required.size()) +
                            " argument" + (fn.required.size() == 1 ? "" : "s") + ", got " +
                            std::to_string(e.args.size()) + " (missing '" + p + "'): " + signature,
                        e.offset);
  }

  const std::string& source_;
  Env& env_;
};

// ---- reading arguments ----

Tensor Arguments::tensor(const char* parameter) { return evaluator_.tensor(expr(parameter)); }

DType Arguments::dtype() const { return evaluator_.dtype(); }

double Arguments::number(const char* parameter) {
  return evaluator_.number(expr(parameter), function_ + ": " + parameter);
}

std::int64_t Arguments::whole(const Expr& e, const std::string& what) {
  const double v = evaluator_.number(e, function_ + ": " + what);
  if (v != std::floor(v) || std::abs(v) > 1e15)
    fail(e, what + " must be a whole number, got " + (std::ostringstream() << v).str());
  return static_cast<std::int64_t>(v);
}

std::int64_t Arguments::integer(const char* parameter, std::optional<std::int64_t> fallback) {
  if (!has(parameter) && fallback) return *fallback;
  return whole(expr(parameter), parameter);
}

bool Arguments::flag(const char* parameter, bool fallback) {
  if (!has(parameter)) return fallback;
  const Expr& e = expr(parameter);
  if (e.kind == Expr::Kind::name && (e.text == "true" || e.text == "false")) return e.text == "true";
  const std::int64_t v = whole(e, parameter);
  if (v != 0 && v != 1) fail(e, std::string(parameter) + " must be true or false");
  return v == 1;
}

// One number for both directions, or [rows, columns].
Pair Arguments::pair(const char* parameter, Pair fallback) {
  if (!has(parameter)) return fallback;
  const Expr& e = expr(parameter);
  if (e.kind != Expr::Kind::list) return whole(e, parameter);
  if (e.args.size() != 2)
    fail(e, std::string(parameter) + " must be one number or [rows, columns]");
  return Pair(whole(e.args[0], parameter), whole(e.args[1], parameter));
}

// One number for every side, or [top, bottom, left, right].
Padding Arguments::padding(const char* parameter) {
  const Expr& e = expr(parameter);
  if (e.kind != Expr::Kind::list) return whole(e, parameter);
  if (e.args.size() != 4)
    fail(e, std::string(parameter) + " must be one number or [top, bottom, left, right]");
  return Padding(whole(e.args[0], parameter), whole(e.args[1], parameter),
                 whole(e.args[2], parameter), whole(e.args[3], parameter));
}

// reshape(x, 2, 3) or reshape(x, [2, 3]).
Shape Arguments::sizes(const char* parameter) {
  std::vector<const Expr*> items = bound_.at(parameter);
  if (items.size() == 1 && items[0]->kind == Expr::Kind::list) {
    const Expr* list = items[0];
    items.clear();
    for (const Expr& item : list->args) items.push_back(&item);
  }
  if (items.size() > max_axes)
    fail(*items[max_axes], std::string(parameter) + " has " + std::to_string(items.size()) +
                               " sizes; a tensor has at most " + std::to_string(max_axes) + " axes");
  Shape shape;
  for (const Expr* item : items) shape.push_back(whole(*item, parameter));
  return shape;
}

// concat([a, b, c]): the list's items, each a tensor.
std::vector<Tensor> Arguments::tensors(const char* parameter) {
  const Expr& e = expr(parameter);
  if (e.kind != Expr::Kind::list)
    fail(e, std::string(parameter) + " must be a list of tensors, as in " + function_ + "([a, b])");
  std::vector<Tensor> list;
  for (const Expr& item : e.args) list.push_back(evaluator_.tensor(item));
  return list;
}

// A bare word or a string: padding_mode=reflect, padding_mode="reflect".
std::string Arguments::word(const char* parameter, const std::vector<std::string>& allowed,
                            const std::string& fallback) {
  if (!has(parameter)) return fallback;
  const Expr& e = expr(parameter);
  std::string choices;
  for (const std::string& a : allowed) choices += (choices.empty() ? "" : ", ") + a;
  if ((e.kind != Expr::Kind::name && e.kind != Expr::Kind::string) ||
      std::find(allowed.begin(), allowed.end(), e.text) == allowed.end())
    fail(e, std::string(parameter) + " must be one of " + choices +
                (e.kind == Expr::Kind::name || e.kind == Expr::Kind::string
                     ? ", got '" + printable(e.text) + "'"
                     : ""));
  return e.text;
}

PadMode Arguments::pad_mode(const char* parameter) {
  const std::string mode =
      word(parameter, {"zeros", "reflect", "replicate", "circular"}, "zeros");
  if (mode == "reflect") return PadMode::reflect;
  if (mode == "replicate") return PadMode::replicate;
  if (mode == "circular") return PadMode::circular;
  return PadMode::zeros;
}

// ---- the functions ----

// (Each op takes the caller's place as a last argument; here that is this line.)
Value unary_op(Tensor (*op)(const Tensor&, Here), Arguments& a) {
  return op(a.tensor("x"), Here::current());
}

Conv2dOptions conv_options(Arguments& a) {
  return Conv2dOptions{.stride = a.pair("stride", 1),
                       .padding = a.pair("padding", 0),
                       .dilation = a.pair("dilation", 1),
                       .groups = a.integer("groups", 1),
                       .padding_mode = a.pad_mode("padding_mode")};
}

Pool2dOptions pool_options(Arguments& a) {
  return Pool2dOptions{.stride = a.pair("stride", 0), .padding = a.pair("padding", 0)};
}

// (H + 2·padding) · (W + 2·padding) of the last two axes: the positions a window can take.
double padded_area(const Tensor& x, Pair padding) {
  const Shape& s = x.shape();
  if (s.size() < 2) return static_cast<double>(x.numel());
  return (static_cast<double>(s[s.size() - 2]) + 2 * std::abs(static_cast<double>(padding.h))) *
         (static_cast<double>(s[s.size() - 1]) + 2 * std::abs(static_cast<double>(padding.w)));
}

// The size of axis `axis` of a 4-D tensor, 1 for a 2-D one (conv2d takes both).
double axis_or_one(const Tensor& x, std::size_t axis) {
  return x.shape().size() == 4 ? static_cast<double>(x.shape()[axis]) : 1;
}

void limit_work(Arguments& a, const char* parameter, double work) {
  if (work > max_work) a.fail(a.expr(parameter), too_much_work(work));
}

// conv2d and convolve2d: N · (H + 2p)(W + 2p) · O·C·kH·kW.
Value convolution(Arguments& a, bool flipped) {
  const Tensor input = a.tensor("input"), weight = a.tensor("weight");
  const Conv2dOptions options = conv_options(a);
  limit_work(a, "input",
             axis_or_one(input, 0) * padded_area(input, options.padding) * weight.numel());
  const Tensor bias = a.optional_tensor("bias");
  return flipped ? convolve2d(input, weight, bias, options) : conv2d(input, weight, bias, options);
}

// max_pool2d and avg_pool2d: N·C · (H + 2p)(W + 2p) · kH·kW.
Value pooling(Arguments& a, bool max) {
  const Tensor x = a.tensor("x");
  const Pair kernel = a.pair("kernel", 1);
  const Pool2dOptions options = pool_options(a);
  const double images = padded_area(x, 0) > 0 ? x.numel() / padded_area(x, 0) : 0;
  limit_work(a, "x",
             images * padded_area(x, options.padding) * std::abs(static_cast<double>(kernel.h)) *
                 std::abs(static_cast<double>(kernel.w)));
  return max ? max_pool2d(x, kernel, options) : avg_pool2d(x, kernel, options);
}

// inverse, det, solve and each matmul of matrix_power: about n³ for each matrix of a batch.
void limit_cubic(Arguments& a, const char* parameter, const Tensor& x, double times = 1) {
  const double n = x.dim() >= 2 ? static_cast<double>(x.shape().back()) : 0;
  const double batch = x.dim() == 3 ? static_cast<double>(x.shape()[0]) : 1;
  limit_work(a, parameter, batch * n * n * n * times);
}

// grad(of, wrt): ∂(of)/∂(wrt), recorded with create_graph so that it can be differentiated
// again: sum(grad(sum(sigmoid(x)), x)) differentiated by x is σ''(x).
Value gradient(Arguments& a) {
  const Tensor of = a.tensor("of");
  const Expr& wrt_expr = a.expr("wrt");
  if (wrt_expr.kind != Expr::Kind::name)
    a.fail(wrt_expr, "the second argument must be the name of an input or a step, as in "
                     "grad(sum(y), x)");
  const Tensor wrt = a.tensor("wrt");
  if (!wrt.requires_grad())
    a.fail(wrt_expr, "'" + wrt_expr.text +
                         "' is a constant: nothing is differentiated with respect to it "
                         "(move it to \"inputs\")");
  if (of.numel() != 1)
    a.fail(a.expr("of"), "the first argument must be a single number (wrap it in sum(…)); it "
                         "has shape " + to_string(of.shape()));
  if (!of.requires_grad()) return zeros_like(wrt);  // it does not depend on wrt at all
  return grad({of}, {wrt}, {.create_graph = true})[0];
}

// var's and std's options: all elements without axis=…; unbiased unless unbiased=false.
Spread spread(Arguments& a) {
  Spread o;
  if (a.has("axis")) o.axis = a.integer("axis");
  o.keepdim = a.flag("keepdim", false);
  o.unbiased = a.flag("unbiased", true);
  return o;
}

// sum and mean: of all elements, along one axis, or along a list of them (axis=[0, 2]).
Value sum_or_mean(Arguments& a, bool mean_of) {
  const Tensor x = a.tensor("x");
  if (!a.has("axis")) return mean_of ? mean(x) : sum(x);
  const bool keepdim = a.flag("keepdim", false);
  if (a.expr("axis").kind == Expr::Kind::list) {
    const Shape listed = a.sizes("axis");
    const std::vector<std::int64_t> axes(listed.begin(), listed.end());
    return mean_of ? mean(x, axes, keepdim) : sum(x, axes, keepdim);
  }
  const std::int64_t axis = a.integer("axis");
  return mean_of ? mean(x, axis, keepdim) : sum(x, axis, keepdim);
}

const std::vector<Builtin>& builtins() {
  static const std::vector<Builtin> table = {
      {"sigmoid", {"x"}, {}, "σ(x) = 1 / (1 + e^(−x))", [](Arguments& a) { return unary_op(sigmoid, a); }},
      {"tanh", {"x"}, {}, "tanh(x)", [](Arguments& a) { return unary_op(tanh, a); }},
      {"relu", {"x"}, {}, "max(x, 0)", [](Arguments& a) { return unary_op(relu, a); }},
      {"exp", {"x"}, {}, "e^x", [](Arguments& a) { return unary_op(exp, a); }},
      {"log", {"x"}, {}, "natural logarithm", [](Arguments& a) { return unary_op(log, a); }},
      {"abs", {"x"}, {}, "|x|", [](Arguments& a) { return unary_op(abs, a); }},
      {"pow", {"x", "exponent"}, {}, "x^exponent (a number), the same as x ^ exponent",
       [](Arguments& a) -> Value { return pow(a.tensor("x"), a.number("exponent")); }},
      {"hadamard", {"a", "b"}, {}, "a ∘ b, the same as a * b",
       [](Arguments& a) -> Value { return hadamard(a.tensor("a"), a.tensor("b")); }},
      {"matmul", {"a", "b"}, {}, "the matrix product, the same as a @ b",
       [](Arguments& a) -> Value {
         const Tensor left = a.tensor("a"), right = a.tensor("b");
         limit_work(a, "a", matmul_work(left, right));
         return matmul(left, right);
       }},
      {"outer", {"u", "v"}, {}, "[m] and [n] → [m, n], uᵢ·vⱼ",
       [](Arguments& a) -> Value { return outer(a.tensor("u"), a.tensor("v")); }},
      {"kron", {"a", "b"}, {}, "the Kronecker product a ⊗ b, of any ranks (as torch.kron)",
       [](Arguments& a) -> Value { return kron(a.tensor("a"), a.tensor("b")); }},
      {"sum", {"x"}, {"axis", "keepdim"}, "Σ of all elements, or along an axis or axes ([0, 2])",
       [](Arguments& a) { return sum_or_mean(a, false); }},
      {"mean", {"x"}, {"axis", "keepdim"}, "the mean of all elements, or along an axis or axes",
       [](Arguments& a) { return sum_or_mean(a, true); }},
      {"sum_to", {"x", "shape"}, {}, "sums the broadcast axes away: sum_to(g, 4)",
       [](Arguments& a) -> Value { return sum_to(a.tensor("x"), a.sizes("shape")); }, true},
      {"reshape", {"x", "shape"}, {}, "reshape(x, 2, 3); one size may be -1",
       [](Arguments& a) -> Value { return reshape(a.tensor("x"), a.sizes("shape")); }, true},
      {"expand", {"x", "shape"}, {}, "broadcasts x to a shape: expand(b, 4, 3); -1 keeps a size",
       [](Arguments& a) -> Value { return expand(a.tensor("x"), a.sizes("shape")); }, true},
      {"transpose", {"x"}, {"axis0", "axis1"}, "swaps two axes (the last two by default)",
       [](Arguments& a) -> Value {
         if (a.has("axis0") != a.has("axis1"))
           a.fail(a.expr(a.has("axis0") ? "axis0" : "axis1"), "give both axes or neither");
         if (!a.has("axis0")) return transpose(a.tensor("x"));
         return transpose(a.tensor("x"), a.integer("axis0"), a.integer("axis1"));
       }},
      {"flip", {"x", "axis"}, {}, "reverses the order along an axis",
       [](Arguments& a) -> Value { return flip(a.tensor("x"), a.integer("axis")); }},
      {"flatten", {"x"}, {"start_axis", "end_axis"}, "merges axes: [N, C, H, W] → [N, C·H·W]",
       [](Arguments& a) -> Value {
         return flatten(a.tensor("x"), a.integer("start_axis", 1), a.integer("end_axis", -1));
       }},
      {"to", {"x", "dtype"}, {}, "a copy in float32 or float64",
       [](Arguments& a) -> Value {
         const std::string d = a.word("dtype", {"float32", "float64"}, "float64");
         return to(a.tensor("x"), d == "float32" ? DType::float32 : DType::float64);
       }},
      {"softmax", {"x"}, {"axis"}, "e^(xᵢ) / Σⱼ e^(xⱼ) along an axis (the last by default)",
       [](Arguments& a) -> Value { return softmax(a.tensor("x"), a.integer("axis", -1)); }},
      {"log_softmax", {"x"}, {"axis"}, "log softmax(x), computed stably",
       [](Arguments& a) -> Value { return log_softmax(a.tensor("x"), a.integer("axis", -1)); }},
      {"mse_loss", {"prediction", "target"}, {}, "mean((prediction − target)²)",
       [](Arguments& a) -> Value { return mse_loss(a.tensor("prediction"), a.tensor("target")); }},
      {"cross_entropy", {"logits", "targets"}, {"ignore_index"},
       "logits [N, C], targets: N class indices or [N, C] rows of probabilities",
       [](Arguments& a) -> Value {
         return cross_entropy(a.tensor("logits"), a.tensor("targets"),
                              {.ignore_index = a.integer("ignore_index", -100)});
       }},
      {"conv2d", {"input", "weight"},
       {"bias", "stride", "padding", "dilation", "groups", "padding_mode"},
       "cross-correlation, [N, C, H, W] with [O, C, kH, kW] (or 2-D with 2-D)",
       [](Arguments& a) { return convolution(a, false); }},
      {"convolve2d", {"input", "weight"},
       {"bias", "stride", "padding", "dilation", "groups", "padding_mode"},
       "true convolution: conv2d with the kernel flipped",
       [](Arguments& a) { return convolution(a, true); }},
      {"conv_transpose2d", {"input", "weight"},
       {"bias", "stride", "padding", "output_padding", "groups", "dilation"},
       "the transposed convolution (conv2d's input gradient), in torch's order",
       [](Arguments& a) -> Value {
         // N·H·W · C·(O/groups)·kH·kW: each input element spread through the whole kernel.
         const Tensor input = a.tensor("input"), weight = a.tensor("weight");
         limit_work(a, "input", axis_or_one(input, 0) * padded_area(input, 0) * weight.numel());
         return conv_transpose2d(input, weight, a.optional_tensor("bias"),
                                 {.stride = a.pair("stride", 1),
                                  .padding = a.pair("padding", 0),
                                  .output_padding = a.pair("output_padding", 0),
                                  .groups = a.integer("groups", 1),
                                  .dilation = a.pair("dilation", 1)});
       }},
      {"conv2d_weight_grad", {"input", "grad_output", "kernel"},
       {"stride", "padding", "dilation", "groups"}, "conv2d's weight gradient",
       [](Arguments& a) -> Value {
         // N·O·oh·ow · C·kH·kW: each element of grad_output against a window of the input.
         const Tensor input = a.tensor("input"), grad_output = a.tensor("grad_output");
         const Pair kernel = a.pair("kernel", 1);
         limit_work(a, "input",
                    static_cast<double>(grad_output.numel()) * axis_or_one(input, 1) *
                        std::abs(static_cast<double>(kernel.h)) *
                        std::abs(static_cast<double>(kernel.w)));
         return conv2d_weight_grad(input, grad_output, kernel, conv_options(a));
       }},
      {"pad", {"x", "amount"}, {"mode"}, "pad(x, 1, reflect); amount: n or [top, bottom, left, right]",
       [](Arguments& a) -> Value {
         return pad(a.tensor("x"), a.padding("amount"), a.pad_mode("mode"));
       }},
      {"unpad", {"g", "amount"}, {"mode"}, "the gradient of pad (its adjoint)",
       [](Arguments& a) -> Value {
         return unpad(a.tensor("g"), a.padding("amount"), a.pad_mode("mode"));
       }},
      {"max_pool2d", {"x", "kernel"}, {"stride", "padding"}, "the largest value of each window",
       [](Arguments& a) { return pooling(a, true); }},
      {"avg_pool2d", {"x", "kernel"}, {"stride", "padding"}, "the mean of each window",
       [](Arguments& a) { return pooling(a, false); }},
      {"concat", {"tensors"}, {"axis"},
       "[a, b, …] joined along an axis (0 by default), as torch.cat",
       [](Arguments& a) -> Value {
         return concat(a.tensors("tensors"), a.integer("axis", 0));
       }},
      {"stack", {"tensors"}, {"axis"},
       "[a, b, …] of one shape side by side along a new axis (0 by default), as torch.stack",
       [](Arguments& a) -> Value {
         return stack(a.tensors("tensors"), a.integer("axis", 0));
       }},
      {"upsample", {"x", "k"}, {},
       "nearest neighbour: each element of the last two axes a k × k block of copies",
       [](Arguments& a) -> Value { return upsample(a.tensor("x"), a.integer("k")); }},
      {"where", {"condition", "a", "b"}, {}, "a where condition ≠ 0, b where it is 0 (broadcast)",
       [](Arguments& a) -> Value {
         return where(a.tensor("condition"), a.tensor("a"), a.tensor("b"));
       }},
      {"sign", {"x"}, {}, "−1, 0 or 1 (gradient 0)", [](Arguments& a) { return unary_op(sign, a); }},
      {"maximum", {"a", "b"}, {}, "the larger of a and b, elementwise (NaN if either is)",
       [](Arguments& a) -> Value { return maximum(a.tensor("a"), a.tensor("b")); }},
      {"minimum", {"a", "b"}, {}, "the smaller of a and b, elementwise (NaN if either is)",
       [](Arguments& a) -> Value { return minimum(a.tensor("a"), a.tensor("b")); }},
      {"clamp", {"x"}, {"min", "max"}, "x limited to [min, max]; either bound may be left out",
       [](Arguments& a) -> Value {
         if (!a.has("min") && !a.has("max")) a.fail(a.expr("x"), "give min=…, max=… or both");
         Bounds bounds;
         if (a.has("min")) bounds.min = a.number("min");
         if (a.has("max")) bounds.max = a.number("max");
         return clamp(a.tensor("x"), bounds);
       }},
      {"trace", {"x"}, {}, "tr X = Σᵢ Xᵢᵢ of a matrix", [](Arguments& a) { return unary_op(trace, a); }},
      {"diag", {"x"}, {}, "[n] → the diagonal matrix [n, n]; [m, n] → its diagonal",
       [](Arguments& a) { return unary_op(diag, a); }},
      {"eye", {"n"}, {"m"}, "the identity matrix [n, n] (or [n, m]), a constant",
       [](Arguments& a) -> Value {
         const std::int64_t n = a.integer("n"), m = a.integer("m", n);
         if (static_cast<double>(n) * static_cast<double>(m) > max_tensor_elements)
           a.fail(a.expr("n"), "an identity of " + std::to_string(n) + " × " + std::to_string(m) +
                                   " is larger than the " + std::to_string(max_tensor_elements) +
                                   " elements allowed here");
         return eye(n, m, a.dtype());
       }},
      {"inverse", {"x"}, {}, "X⁻¹ of a square matrix (or a batch [B, n, n]); singular: an error",
       [](Arguments& a) -> Value {
         const Tensor x = a.tensor("x");
         limit_cubic(a, "x", x);
         return inverse(x);
       }},
      {"det", {"x"}, {}, "det X of a square matrix (or of each of a batch)",
       [](Arguments& a) -> Value {
         const Tensor x = a.tensor("x");
         limit_cubic(a, "x", x);
         return det(x);
       }},
      {"solve", {"A", "B"}, {}, "A⁻¹B without forming A⁻¹ (B: [n] or [n, k])",
       [](Arguments& a) -> Value {
         const Tensor A = a.tensor("A"), B = a.tensor("B");
         limit_cubic(a, "A", A);
         return solve(A, B);
       }},
      {"matrix_power", {"x", "k"}, {}, "Xᵏ for a whole number k (X⁰ = I; k < 0: (X⁻¹)^|k|)",
       [](Arguments& a) -> Value {
         const Tensor x = a.tensor("x");
         const std::int64_t k = a.integer("k");
         limit_cubic(a, "x", x, 2 * std::log2(2.0 + std::abs(static_cast<double>(k))));
         return matrix_power(x, k);
       }},
      {"max", {"x"}, {"axis", "keepdim"},
       "the largest element, of all or along an axis (ties share the gradient, as torch.amax)",
       [](Arguments& a) -> Value {
         if (!a.has("axis")) return max(a.tensor("x"));
         return max(a.tensor("x"), a.integer("axis"), a.flag("keepdim", false));
       }},
      {"min", {"x"}, {"axis", "keepdim"},
       "the smallest element, of all or along an axis (ties share the gradient, as torch.amin)",
       [](Arguments& a) -> Value {
         if (!a.has("axis")) return min(a.tensor("x"));
         return min(a.tensor("x"), a.integer("axis"), a.flag("keepdim", false));
       }},
      {"argmax", {"x"}, {"axis", "keepdim"},
       "the index of the largest element (flat without an axis; no gradient)",
       [](Arguments& a) -> Value {
         if (!a.has("axis")) return argmax(a.tensor("x"));
         return argmax(a.tensor("x"), a.integer("axis"), a.flag("keepdim", false));
       }},
      {"logsumexp", {"x"}, {"axis", "keepdim"}, "ln Σ e^x, of all or along an axis, computed stably",
       [](Arguments& a) -> Value {
         if (!a.has("axis")) return logsumexp(a.tensor("x"));
         return logsumexp(a.tensor("x"), a.integer("axis"), a.flag("keepdim", false));
       }},
      {"var", {"x"}, {"axis", "keepdim", "unbiased"},
       "the variance, of all or along an axis (unbiased: / (n − 1), by default)",
       [](Arguments& a) -> Value { return var(a.tensor("x"), spread(a)); }},
      {"std", {"x"}, {"axis", "keepdim", "unbiased"}, "√var(x), with var's options",
       [](Arguments& a) -> Value { return std(a.tensor("x"), spread(a)); }},
      {"norm", {"x"}, {}, "‖x‖₂ = √(Σ x²) of all elements (Frobenius for a matrix)",
       [](Arguments& a) { return unary_op(norm, a); }},
      {"sqrt", {"x"}, {}, "√x", [](Arguments& a) { return unary_op(sqrt, a); }},
      {"sin", {"x"}, {}, "sin x", [](Arguments& a) { return unary_op(sin, a); }},
      {"cos", {"x"}, {}, "cos x", [](Arguments& a) { return unary_op(cos, a); }},
      {"leaky_relu", {"x"}, {"slope"}, "x where x > 0, slope·x elsewhere (slope 0.01 by default)",
       [](Arguments& a) -> Value {
         return leaky_relu(a.tensor("x"), a.has("slope") ? a.number("slope") : 0.01);
       }},
      {"elu", {"x"}, {"alpha"}, "x where x > 0, α(e^x − 1) elsewhere (α = 1 by default)",
       [](Arguments& a) -> Value {
         return elu(a.tensor("x"), a.has("alpha") ? a.number("alpha") : 1.0);
       }},
      {"gelu", {"x"}, {}, "x·Φ(x), Φ the normal CDF (the erf form)",
       [](Arguments& a) { return unary_op(gelu, a); }},
      {"softplus", {"x"}, {}, "ln(1 + e^x), computed stably",
       [](Arguments& a) { return unary_op(softplus, a); }},
      {"layer_norm", {"x", "gamma", "beta"}, {"eps"},
       "(x − mean) / √(var + eps) · gamma + beta along the last axis (eps 1e-5)",
       [](Arguments& a) -> Value {
         return layer_norm(a.tensor("x"), a.tensor("gamma"), a.tensor("beta"),
                           a.has("eps") ? a.number("eps") : 1e-5);
       }},
      {"batch_norm", {"x", "gamma", "beta"}, {"eps"},
       "normalised with the batch's statistics: axis 0 of [N, D], N, H, W of [N, C, H, W]",
       [](Arguments& a) -> Value {
         return batch_norm(a.tensor("x"), a.tensor("gamma"), a.tensor("beta"),
                           a.has("eps") ? a.number("eps") : 1e-5);
       }},
      {"dropout", {"x", "p"}, {"seed"},
       "zeros with probability p, the rest scaled by 1/(1 − p); the mask from seed (0 by default)",
       [](Arguments& a) -> Value {
         const std::int64_t seed = a.integer("seed", 0);
         if (seed < 0) a.fail(a.expr("seed"), "seed must be at least 0");
         return dropout(a.tensor("x"), a.number("p"), static_cast<std::uint64_t>(seed));
       }},
      {"embedding", {"W", "idx"}, {}, "W[idx]: the rows of W [V, D] that the indices pick",
       [](Arguments& a) -> Value { return embedding(a.tensor("W"), a.tensor("idx")); }},
      {"arange", {"start"}, {"stop", "step"},
       "arange(n): 0, 1, …, n − 1; arange(start, stop, step): up to stop (a constant)",
       [](Arguments& a) -> Value {
         if (!a.has("stop")) {
           if (a.has("step")) a.fail(a.expr("step"), "a step needs a stop: arange(start, stop, step)");
           return arange(a.number("start"), a.dtype());
         }
         return arange(a.number("start"), a.number("stop"), a.has("step") ? a.number("step") : 1.0,
                       a.dtype());
       }},
      {"zeros", {"shape"}, {}, "a constant of zeros: zeros(2, 3) or zeros([2, 3])",
       [](Arguments& a) -> Value { return zeros(a.sizes("shape"), a.dtype()); }, true},
      {"ones", {"shape"}, {}, "a constant of ones: ones(2, 3) or ones([2, 3])",
       [](Arguments& a) -> Value { return ones(a.sizes("shape"), a.dtype()); }, true},
      {"one_hot", {"y", "n"}, {}, "[y = j] for the classes j = 0 … n − 1: [S…] → [S…, n] (no gradient)",
       [](Arguments& a) -> Value { return one_hot(a.tensor("y"), a.integer("n")); }},
      {"index_add", {"target", "idx", "source"}, {"axis"},
       "target with source's rows added at the rows idx names (repeats add up; axis 0 by default)",
       [](Arguments& a) -> Value {
         return index_add(a.tensor("target"), a.tensor("idx"), a.tensor("source"),
                          a.integer("axis", 0));
       }},
      {"gather", {"x", "axis", "idx"}, {}, "x[i][idx[i][j]] along an axis (torch.gather)",
       [](Arguments& a) -> Value {
         return gather(a.tensor("x"), a.integer("axis"), a.tensor("idx"));
       }},
      {"scatter_add", {"x", "axis", "idx", "src"}, {},
       "x with src[i][j] added at x[i][idx[i][j]] along an axis (torch.scatter_add)",
       [](Arguments& a) -> Value {
         return scatter_add(a.tensor("x"), a.integer("axis"), a.tensor("idx"), a.tensor("src"));
       }},
      {"grad", {"of", "wrt"}, {}, "∂of/∂wrt (of: one number), itself differentiable", gradient},
  };
  return table;
}

}  // namespace

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

Program parse(const std::string& source) { return Parser(source).program(); }

Tensor as_tensor(const Value& value, DType dtype) {
  if (const double* d = std::get_if<double>(&value)) return scalar(*d, dtype);
  return std::get<Tensor>(value);
}

Value evaluate(const Program& program, Env& env) {
  Evaluator evaluator(program.source, env);
  for (const Step& step : program.steps) {
    if (env.names.count(step.name))
      throw ExprError("'" + step.name + "' is already the name of an input, a constant or a "
                      "step; give this step a name of its own",
                      step.value.begin);
    Value value = evaluator.eval(step.value);
    if (Tensor* t = std::get_if<Tensor>(&value)) {
      // A step is a value the expression can be differentiated against, even one made of
      // constants only, such as h = grad(sum(relu(x)), x) (a mask of constants: relu's
      // backward records nothing); ∂/∂h of sum(h * x) is x, as in PyTorch. Such a step has no
      // node, so it loses nothing by becoming a leaf of its own, the same numbers with a
      // gradient; the inputs get none through it either way.
      if (!t->requires_grad()) *t = t->detach().set_requires_grad();
      // Named (unless it already is a tensor with a name, such as an input), so that
      // claims and diagrams can refer to it.
      if (t->name().empty()) t->name(step.name);
    }
    env.names[step.name] = value;
  }
  return evaluator.eval(program.value);
}

std::string describe_functions() {
  std::ostringstream out;
  for (const Builtin& b : builtins()) {
    std::string signature = std::string(b.name) + "(";
    bool first = true;
    for (const char* p : b.required) {
      signature += (first ? "" : ", ") + std::string(p);
      first = false;
    }
    if (b.last_takes_the_rest) signature += "…";
    for (const char* p : b.optional) {
      signature += std::string(first ? "" : ", ") + p + "=…";
      first = false;
    }
    signature += ")";
    out << "  " << signature;
    const std::size_t width = count_characters(signature, 0, signature.size());
    if (width < 30)
      out << std::string(30 - width, ' ');
    else
      out << "\n" << std::string(32, ' ');
    out << b.meaning << '\n';
  }
  return out.str();
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
