#pragma once

// Internal: the 128-bit hash used for event ids and for distinct values.
// Fast and well mixed, but not keyed: it is not meant to resist someone who
// crafts colliding ids on purpose (see README, "Id hashing").

#include <cstdint>
#include <cstring>
#include <string_view>

#include "etld/pipeline/event.h"

namespace etld::pipeline::detail {

// GCC and Clang both provide a 128-bit integer; __extension__ keeps
// -Wpedantic quiet about it.
__extension__ typedef unsigned __int128 Uint128;

inline std::uint64_t fold_mul(std::uint64_t a, std::uint64_t b) {
    const Uint128 p = static_cast<Uint128>(a) * b;
    return static_cast<std::uint64_t>(p) ^ static_cast<std::uint64_t>(p >> 64);
}

inline std::uint64_t avalanche(std::uint64_t x) {
    x ^= x >> 31;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 29;
    x *= 0xa0761d6478bd642fULL;
    x ^= x >> 32;
    return x;
}

inline std::uint64_t load64(const char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

inline std::uint64_t load32(const char* p) {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// The n <= 8 bytes at p as a little-endian integer (the bytes memcpy'd into
// a zeroed uint64_t), without a call to memcpy for a variable length: two
// overlapping loads for 4..8 bytes, three single bytes for 1..3.
inline std::uint64_t load_partial(const char* p, std::size_t n) {
    if (n >= 4) {
        return load32(p) | (load32(p + n - 4) << (8 * (n - 4)));
    }
    if (n == 0) {
        return 0;
    }
    const auto byte = [p](std::size_t i) {
        return static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
    };
    return byte(0) | byte(n / 2) | byte(n - 1);
}

// Equality of two byte strings of length n, for the short keys of the
// engine's tables, where a call to memcmp costs more than the comparison.
inline bool same_bytes(const char* a, const char* b, std::size_t n) {
    while (n > 8) {
        if (load64(a) != load64(b)) {
            return false;
        }
        a += 8;
        b += 8;
        n -= 8;
    }
    return load_partial(a, n) == load_partial(b, n);
}

inline IdHash hash128(std::string_view s, std::uint64_t seed = 0) {
    constexpr std::uint64_t kA = 0x9e3779b97f4a7c15ULL;
    constexpr std::uint64_t kB = 0xe7037ed1a0b428dbULL;
    constexpr std::uint64_t kC = 0x8ebc6af09c88c6e3ULL;
    constexpr std::uint64_t kD = 0x589965cc75374cc3ULL;
    std::uint64_t a = seed ^ kA ^ (s.size() * kC);
    std::uint64_t b = seed ^ kB ^ (s.size() * kD);
    const char* p = s.data();
    std::size_t n = s.size();
    while (n >= 16) {
        const std::uint64_t w0 = load64(p);
        const std::uint64_t w1 = load64(p + 8);
        const std::uint64_t na = fold_mul(w0 ^ a ^ kC, w1 ^ kD ^ (b << 1));
        const std::uint64_t nb = fold_mul(w1 ^ b ^ kA, w0 ^ kB ^ (a >> 1)) + (a ^ w1);
        a = na;
        b = nb;
        p += 16;
        n -= 16;
    }
    std::uint64_t w0 = 0;
    std::uint64_t w1 = 0;
    if (n > 8) {
        w0 = load64(p);
        w1 = load_partial(p + 8, n - 8);
    } else {
        w0 = load_partial(p, n);
    }
    a = fold_mul(w0 ^ a ^ kC, w1 ^ kD ^ (b << 1)) ^ n;
    b = fold_mul(w1 ^ b ^ kA, w0 ^ kB ^ (a >> 1)) + a;
    IdHash h;
    h.lo = avalanche(a ^ fold_mul(b ^ kB, kA));
    h.hi = avalanche(b ^ fold_mul(a ^ kD, kC));
    if (h.lo == 0 && h.hi == 0) {
        h.lo = 1;  // all-zero marks an empty slot in the hash tables
    }
    return h;
}

// A 64-bit hash for in-memory tables only (group keys, top-k values): about
// a third of hash128's work for short strings. Unlike hash128 it is written
// nowhere, so it may change from one version to the next.
inline std::uint64_t hash64(std::string_view s, std::uint64_t seed) {
    constexpr std::uint64_t kA = 0x9e3779b97f4a7c15ULL;
    constexpr std::uint64_t kB = 0xe7037ed1a0b428dbULL;
    const char* p = s.data();
    std::size_t n = s.size();
    std::uint64_t h = seed ^ (n * kA);
    while (n > 16) {
        h = fold_mul(load64(p) ^ kA ^ h, load64(p + 8) ^ kB);
        p += 16;
        n -= 16;
    }
    const std::uint64_t w0 = n > 8 ? load64(p) : load_partial(p, n);
    const std::uint64_t w1 = n > 8 ? load_partial(p + 8, n - 8) : 0;
    return fold_mul(fold_mul(w0 ^ kA ^ h, w1 ^ kB), kA ^ s.size());
}

}  // namespace etld::pipeline::detail
