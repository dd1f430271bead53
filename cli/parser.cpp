// The expression language, second job: tokens into the tree of cli/expr.hpp, one function
// per grammar rule (the grammar is in expr.hpp).
#include <algorithm>
#include <string>
#include <vector>

#include "cli/expr.hpp"
#include "cli/syntax.hpp"

namespace gradlab::cli {

namespace {

using namespace detail;

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

}  // namespace

Program parse(const std::string& source) { return Parser(source).program(); }

}  // namespace gradlab::cli
