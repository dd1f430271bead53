// SmallVector<T, N>: a vector that keeps up to N elements inside itself and moves to the
// heap only beyond that. Shapes (rarely more than four axes), an op's inputs (one to three)
// and the gradients a backward returns are all short lists made at every op; with
// std::vector each would cost a heap allocation, more than a small op's arithmetic.
// It offers the part of std::vector's interface gradlab uses.
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace gradlab {

template <class T, std::uint32_t N>
class SmallVector {
  static_assert(N >= 1);

 public:
  using value_type = T;
  using size_type = std::size_t;
  using iterator = T*;
  using const_iterator = const T*;

  SmallVector() = default;
  explicit SmallVector(size_type n) {
    if (n > N) reserve(n);
    std::uninitialized_value_construct_n(data(), n);  // (Grads(2), made by every backward)
    size_ = static_cast<std::uint32_t>(n);
  }
  SmallVector(size_type n, const T& value) { assign(n, value); }
  SmallVector(std::initializer_list<T> items) { append(items.begin(), items.end()); }
  template <std::input_iterator It>
  SmallVector(It first, It last) {
    append(first, last);
  }
  SmallVector(const SmallVector& other) {
    if constexpr (std::is_trivially_copyable_v<T>) {  // a shape: one fixed-size copy
      if (!other.on_heap()) {
        std::memcpy(local_, other.local_, sizeof local_);
        size_ = other.size_;
        return;
      }
    }
    append(other.begin(), other.end());
  }
  SmallVector(SmallVector&& other) noexcept { take(std::move(other)); }
  SmallVector& operator=(const SmallVector& other) {
    if (this != &other) {
      clear();
      append(other.begin(), other.end());
    }
    return *this;
  }
  SmallVector& operator=(SmallVector&& other) noexcept {
    if (this != &other) {
      release();
      take(std::move(other));
    }
    return *this;
  }
  SmallVector& operator=(std::initializer_list<T> items) {
    clear();
    append(items.begin(), items.end());
    return *this;
  }
  ~SmallVector() { release(); }

  size_type size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool on_heap() const { return capacity_ > N; }  // the elements are not kept inline
  T* data() { return on_heap() ? heap_ : local(); }
  const T* data() const { return on_heap() ? heap_ : local(); }
  T& operator[](size_type i) { return data()[i]; }
  const T& operator[](size_type i) const { return data()[i]; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  std::reverse_iterator<T*> rbegin() { return std::reverse_iterator<T*>(end()); }
  std::reverse_iterator<T*> rend() { return std::reverse_iterator<T*>(begin()); }
  std::reverse_iterator<const T*> rbegin() const { return std::reverse_iterator<const T*>(end()); }
  std::reverse_iterator<const T*> rend() const { return std::reverse_iterator<const T*>(begin()); }
  T& front() { return data()[0]; }
  const T& front() const { return data()[0]; }
  T& back() { return data()[size_ - 1]; }
  const T& back() const { return data()[size_ - 1]; }

  void reserve(size_type n) {
    if (n > capacity_) grow(n);
  }
  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity_) {  // made first: the arguments may refer to an element
      T value(std::forward<Args>(args)...);
      grow(2 * size_type(capacity_));
      return *::new (data() + size_++) T(std::move(value));
    }
    return *::new (data() + size_++) T(std::forward<Args>(args)...);
  }
  void push_back(const T& value) { emplace_back(value); }
  void push_back(T&& value) { emplace_back(std::move(value)); }
  void pop_back() { std::destroy_at(data() + --size_); }
  void clear() {
    std::destroy_n(data(), size_);
    size_ = 0;
  }
  void resize(size_type n) {
    reserve(n);
    while (size_ > n) pop_back();
    while (size_ < n) emplace_back();
  }
  void resize(size_type n, const T& value) {
    reserve(n);
    while (size_ > n) pop_back();
    while (size_ < n) emplace_back(value);
  }
  void assign(size_type n, const T& value) {
    clear();
    resize(n, value);
  }
  template <std::input_iterator It>
  void assign(It first, It last) {
    clear();
    append(first, last);
  }
  // Inserts before `pos`; returns where the first new element is.
  T* insert(const T* pos, const T& value) { return insert(pos, &value, &value + 1); }
  template <std::input_iterator It>
  T* insert(const T* pos, It first, It last) {
    const size_type at = pos - data(), old = size_;
    append(first, last);
    std::rotate(data() + at, data() + old, end());
    return data() + at;
  }
  T* erase(const T* pos) { return erase(pos, pos + 1); }
  T* erase(const T* first, const T* last) {
    const size_type at = first - data(), count = last - first;
    std::move(data() + at + count, end(), data() + at);
    for (size_type k = 0; k < count; ++k) pop_back();
    return data() + at;
  }

  friend bool operator==(const SmallVector& a, const SmallVector& b) {
    if (a.size_ != b.size_) return false;
    const T *pa = a.data(), *pb = b.data();
    for (std::uint32_t i = 0; i < a.size_; ++i)  // a loop, not memcmp: shapes are short
      if (!(pa[i] == pb[i])) return false;
    return true;
  }
  friend auto operator<=>(const SmallVector& a, const SmallVector& b) {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  T* local() { return std::launder(reinterpret_cast<T*>(local_)); }
  const T* local() const { return std::launder(reinterpret_cast<const T*>(local_)); }

  template <class It>
  void append(It first, It last) {
    if constexpr (std::forward_iterator<It>) reserve(size_ + std::distance(first, last));
    for (; first != last; ++first) emplace_back(*first);
  }

  void grow(size_type wanted) {
    const size_type n = std::max<size_type>(wanted, N + 1);
    T* fresh = static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{alignof(T)}));
    std::uninitialized_move_n(data(), size_, fresh);
    const std::uint32_t size = size_;
    release();
    heap_ = fresh;
    size_ = size;
    capacity_ = static_cast<std::uint32_t>(n);
  }

  // Destroys the elements and frees the heap block: back to an empty, inline vector.
  void release() {
    std::destroy_n(data(), size_);
    if (on_heap()) ::operator delete(heap_, std::align_val_t{alignof(T)});
    size_ = 0;
    capacity_ = N;
  }

  void take(SmallVector&& other) {
    if (other.on_heap()) {
      heap_ = std::exchange(other.heap_, nullptr);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, N);
      return;
    }
    if constexpr (std::is_trivially_copyable_v<T>)
      std::memcpy(local_, other.local_, sizeof local_);
    else
      std::uninitialized_move_n(other.local(), other.size_, local());
    size_ = other.size_;
    other.clear();
  }

  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = N;  // > N: the elements are on the heap
  union {
    alignas(T) std::byte local_[N * sizeof(T)];
    T* heap_;
  };
};

}  // namespace gradlab
