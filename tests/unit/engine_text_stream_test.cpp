// Text deltas: whole UTF-8 sequences only, stop strings never leak, even across pieces.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/engine/text_stream.h"

namespace airt::engine {
namespace {

struct Stream {
  Arena arena;
  TextStream ts;
  Stream() {
    arena = std::move(Arena::reserve(TextStream::arena_bytes(4, 16, 32)).value());
    EXPECT_TRUE(ts.carve(arena, 4, 16, 32).ok());
  }
};

// Pushes pieces; returns the concatenated deltas and whether a stop matched.
std::pair<std::string, bool> feed(TextStream& ts, const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) {
    auto d = ts.push(p);
    out += d.text;
    if (d.stopped) return {out, true};
  }
  out += ts.flush();
  return {out, false};
}

TEST(TextStream, StopStringAcrossPiecesIsCut) {
  Stream s;
  std::vector<std::string> stops = {"User:", "###"};
  ASSERT_TRUE(s.ts.reset<std::string>(stops).ok());
  auto [out, stopped] = feed(s.ts, {"Hello", " there", "\nUs", "er", ": more"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "Hello there\n");
}

TEST(TextStream, HeldBackTextIsReleasedWhenItCannotMatch) {
  Stream s;
  std::vector<std::string> stops = {"User:"};
  ASSERT_TRUE(s.ts.reset<std::string>(stops).ok());
  auto d = s.ts.push("a Us");
  EXPECT_EQ(d.text, "a ");  // "Us" may start "User:"
  d = s.ts.push("b");
  EXPECT_EQ(d.text, "Usb");
  EXPECT_FALSE(d.stopped);
}

TEST(TextStream, IncompleteUtf8WaitsForItsBytes) {
  Stream s;
  ASSERT_TRUE(s.ts.reset<std::string>({}).ok());
  const std::string euro = "\xE2\x82\xAC";
  auto d = s.ts.push("x" + euro.substr(0, 1));
  EXPECT_EQ(d.text, "x");
  d = s.ts.push(euro.substr(1, 1));
  EXPECT_EQ(d.text, "");
  d = s.ts.push(euro.substr(2) + "y");
  EXPECT_EQ(d.text, euro + "y");
  // A truncated sequence at the very end comes out with flush().
  s.ts.push("\xF0\x9F");
  EXPECT_EQ(s.ts.flush(), "\xF0\x9F");
}

TEST(TextStream, LimitsAreErrors) {
  Stream s;
  std::vector<std::string> many(5, "x");
  EXPECT_EQ(s.ts.reset<std::string>(many).error().code, Error::kRequestInvalid);
  std::vector<std::string> longer = {std::string(17, 'y')};
  EXPECT_EQ(s.ts.reset<std::string>(longer).error().code, Error::kRequestTooLarge);
  std::vector<std::string> empty = {""};
  EXPECT_TRUE(s.ts.reset<std::string>(empty).ok());
  EXPECT_EQ(feed(s.ts, {"abc"}).first, "abc");
}

TEST(TextStream, RandomPiecesReproduceTheTextUpToTheFirstStop) {
  const std::string text = "The cat sat. END Then more text END and \xC3\xA9t\xC3\xA9.";
  std::vector<std::string> stops = {"END"};
  uint64_t r = 99;
  for (int round = 0; round < 200; ++round) {
    Stream s;
    ASSERT_TRUE(s.ts.reset<std::string>(stops).ok());
    std::vector<std::string> pieces;
    for (size_t at = 0; at < text.size();) {
      r = r * 6364136223846793005ull + 1;
      size_t n = 1 + (r >> 60) % 5;
      pieces.push_back(text.substr(at, n));
      at += n;
    }
    auto [out, stopped] = feed(s.ts, pieces);
    EXPECT_TRUE(stopped);
    EXPECT_EQ(out, "The cat sat. ");
  }
}

}  // namespace
}  // namespace airt::engine
