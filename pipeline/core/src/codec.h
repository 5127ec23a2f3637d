#pragma once

// Internal: little helpers for the binary changelog encoding. Integers are
// fixed-width big-endian so keys sort by their numeric fields; every read is
// bounds-checked and a short or malformed record makes the Reader fail.

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace etld::pipeline::detail {

class Writer {
  public:
    explicit Writer(std::string& out) : out_(out) {}
    void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void u32(std::uint32_t v) { be(v, 4); }
    void u64(std::uint64_t v) { be(v, 8); }
    void i64(std::int64_t v) { be(static_cast<std::uint64_t>(v), 8); }
    void f64(double v) { be(std::bit_cast<std::uint64_t>(v), 8); }
    void bytes(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        out_.append(s);
    }
    void raw(std::string_view s) { out_.append(s); }

  private:
    void be(std::uint64_t v, int n) {
        char buf[8];
        for (int i = 0; i < n; ++i) {
            buf[i] = static_cast<char>((v >> (8 * (n - 1 - i))) & 0xff);
        }
        out_.append(buf, static_cast<std::size_t>(n));
    }
    std::string& out_;
};

class Reader {
  public:
    explicit Reader(std::string_view in) : in_(in) {}
    bool ok() const { return ok_; }
    bool at_end() const { return at_ == in_.size(); }
    std::size_t remaining() const { return in_.size() - at_; }
    std::uint8_t u8() { return static_cast<std::uint8_t>(be(1)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(be(4)); }
    std::uint64_t u64() { return be(8); }
    std::int64_t i64() { return static_cast<std::int64_t>(be(8)); }
    double f64() { return std::bit_cast<double>(be(8)); }
    std::string_view bytes() {
        const std::uint32_t n = u32();
        return raw(n);
    }
    std::string_view raw(std::size_t n) {
        if (!ok_ || remaining() < n) {
            ok_ = false;
            return {};
        }
        std::string_view s = in_.substr(at_, n);
        at_ += n;
        return s;
    }
    void fail() { ok_ = false; }

  private:
    std::uint64_t be(int n) {
        if (!ok_ || remaining() < static_cast<std::size_t>(n)) {
            ok_ = false;
            return 0;
        }
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i) {
            v = (v << 8) | static_cast<unsigned char>(in_[at_ + static_cast<std::size_t>(i)]);
        }
        at_ += static_cast<std::size_t>(n);
        return v;
    }
    std::string_view in_;
    std::size_t at_ = 0;
    bool ok_ = true;
};

}  // namespace etld::pipeline::detail
