// std::source_location for clang 14 on libstdc++ 12 (Debian 12's clang): the library's
// <source_location> is empty unless the compiler has __builtin_source_location, which came
// with clang 15. This stand-in, force-included into every file of the fuzz build, is made of
// the builtins clang 14 does have and behaves the same: current() as a default argument
// takes the caller's place. With a newer compiler it defines nothing.
#pragma once

#include <version>
#include <source_location>

#if !defined(__cpp_lib_source_location)
#include <cstdint>

namespace std {

struct source_location {
  static constexpr source_location current(uint_least32_t line = __builtin_LINE(),
                                           uint_least32_t column = __builtin_COLUMN(),
                                           const char* file = __builtin_FILE(),
                                           const char* function = __builtin_FUNCTION()) noexcept {
    source_location where;
    where.line_ = line;
    where.column_ = column;
    where.file_ = file;
    where.function_ = function;
    return where;
  }
  constexpr source_location() noexcept = default;
  constexpr uint_least32_t line() const noexcept { return line_; }
  constexpr uint_least32_t column() const noexcept { return column_; }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }

 private:
  uint_least32_t line_ = 0, column_ = 0;
  const char* file_ = "";
  const char* function_ = "";
};

}  // namespace std
#endif
