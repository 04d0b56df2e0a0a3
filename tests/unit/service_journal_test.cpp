// The request journal: open requests survive a reopen, done ones do not, a record torn
// by a crash mid-write (every cut of the last record, and a flipped byte) is detected and
// dropped without losing the records before it, and the file is compacted and bounded.
#include <gtest/gtest.h>

#include <fstream>

#include "runtime/service/journal.h"
#include "tests/support/test_support.h"

namespace airt::service {
namespace {

JournalEntry entry(const std::string& payload) {
  JournalEntry e;
  e.arrival_wall_ns = 1234567;
  e.reply_topic = "app/reply";
  e.correlation = std::string("c\0d", 3);
  e.has_correlation = true;
  e.payload = payload;
  return e;
}

std::string file_text(const std::string& path) { return test::read_text(path); }

TEST(ServiceJournal, OpenRequestsSurviveAReopenDoneOnesDoNot) {
  std::string path = test::temp_dir() + "/j/requests.journal";
  uint64_t a, b, c;
  {
    auto j = Journal::open(path, {});
    ASSERT_TRUE(j.ok()) << j.error().message;
    a = j.value()->append(entry("{\"id\":\"a\"}")).value();
    b = j.value()->append(entry("{\"id\":\"b\"}")).value();
    c = j.value()->append(entry("{\"id\":\"c\"}")).value();
    ASSERT_TRUE(j.value()->mark_done(b).ok());
  }
  auto j = Journal::open(path, {});
  ASSERT_TRUE(j.ok());
  std::vector<JournalEntry> open = j.value()->take_recovered();
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[0].seq, a);
  EXPECT_EQ(open[0].payload, "{\"id\":\"a\"}");
  EXPECT_EQ(open[0].reply_topic, "app/reply");
  EXPECT_EQ(open[0].correlation, std::string("c\0d", 3));
  EXPECT_TRUE(open[0].has_correlation);
  EXPECT_EQ(open[0].arrival_wall_ns, 1234567);
  EXPECT_EQ(open[1].seq, c);
  EXPECT_EQ(j.value()->torn_records(), 0);
  // New records never reuse a seq of the previous run.
  EXPECT_GT(j.value()->append(entry("{}")).value(), c);
}

// A final handed to the broker but not completed stays with its request, its packet id
// and whether the broker's PUBREC came, through a reopen and a compaction, so the restart
// can resume it where it was.
TEST(ServiceJournal, AFinalSentButNotAcknowledgedComesBackWithItsRequest) {
  std::string path = test::temp_dir() + "/j/requests.journal";
  const std::string final_reply = "{\"id\":\"a\",\"done\":true,\"text\":\"Once\"}";
  uint64_t a, b;
  {
    auto j = Journal::open(path, {});
    ASSERT_TRUE(j.ok()) << j.error().message;
    a = j.value()->append(entry("{\"id\":\"a\"}")).value();
    b = j.value()->append(entry("{\"id\":\"b\"}")).value();
    ASSERT_TRUE(j.value()->mark_sent(a, final_reply, 517).ok());
    ASSERT_TRUE(j.value()->mark_released(a).ok());
    ASSERT_TRUE(j.value()->mark_sent(999, "unknown", 1).ok()) << "an unknown seq is ignored";
    ASSERT_TRUE(j.value()->mark_released(998).ok());
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    JournalLimits small;
    small.compact_bytes = reopen ? 1 : JournalLimits{}.compact_bytes;  // the second time, compact on done
    auto j = Journal::open(path, small);
    ASSERT_TRUE(j.ok());
    std::vector<JournalEntry> open = j.value()->take_recovered();
    ASSERT_EQ(open.size(), reopen ? 1u : 2u);
    EXPECT_EQ(open[0].seq, a);
    EXPECT_TRUE(open[0].has_final);
    EXPECT_EQ(open[0].final_payload, final_reply);
    EXPECT_EQ(open[0].packet_id, 517);
    EXPECT_TRUE(open[0].released);
    if (!reopen) {
      EXPECT_FALSE(open[1].has_final);
      EXPECT_FALSE(open[1].released);
      ASSERT_TRUE(j.value()->append(entry("{\"id\":\"c\"}")).ok());
      ASSERT_TRUE(j.value()->mark_done(b).ok());
      ASSERT_TRUE(j.value()->mark_done(b + 1).ok());
    } else {
      ASSERT_TRUE(j.value()->mark_done(a).ok());
      EXPECT_EQ(j.value()->file_bytes(), 0u) << "nothing open: truncated";
    }
  }
}

TEST(ServiceJournal, TornLastRecordIsDetectedAndDropped) {
  std::string dir = test::temp_dir();
  std::string whole = Journal::encode(1, entry("{\"id\":\"first\"}"));
  JournalEntry second = entry("{\"id\":\"second\",\"prompt\":\"a longer prompt\"}");
  second.seq = 2;
  std::string torn = Journal::encode(1, second);
  // Every cut of the second record (a crash at each byte of its write) and a flipped byte.
  std::vector<std::string> tails;
  for (size_t cut = 1; cut < torn.size(); ++cut) tails.push_back(torn.substr(0, cut));
  std::string flipped = torn;
  flipped[flipped.size() - 3] ^= 0x40;
  tails.push_back(flipped);
  for (size_t i = 0; i < tails.size(); ++i) {
    std::string path = dir + "/torn" + std::to_string(i);
    std::ofstream(path, std::ios::binary) << whole << tails[i];
    auto j = Journal::open(path, {});
    ASSERT_TRUE(j.ok()) << j.error().message;
    EXPECT_EQ(j.value()->torn_records(), 1) << "tail " << i;
    std::vector<JournalEntry> open = j.value()->take_recovered();
    ASSERT_EQ(open.size(), 1u) << "tail " << i;
    EXPECT_EQ(open[0].payload, "{\"id\":\"first\"}");
    EXPECT_EQ(file_text(path), whole) << "the torn bytes are cut off, so the next append is clean";
    // Appending after the cut gives a journal that reads back whole.
    ASSERT_TRUE(j.value()->append(entry("{\"id\":\"third\"}")).ok());
    auto again = Journal::open(path, {});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.value()->torn_records(), 0);
    EXPECT_EQ(again.value()->take_recovered().size(), 2u);
  }
}

TEST(ServiceJournal, CompactedWhenAllDoneAndBounded) {
  std::string path = test::temp_dir() + "/requests.journal";
  JournalLimits limits;
  limits.max_live = 3;
  limits.max_record_bytes = 256;
  limits.compact_bytes = 1024;
  auto j = Journal::open(path, limits);
  ASSERT_TRUE(j.ok());
  Journal& jj = *j.value();
  uint64_t keep = jj.append(entry("{\"id\":\"kept\"}")).value();
  for (int i = 0; i < 200; ++i) {
    uint64_t s = jj.append(entry("{\"id\":\"r\"}")).value();
    ASSERT_TRUE(jj.mark_done(s).ok());
    EXPECT_LE(jj.file_bytes(), limits.compact_bytes + 2 * limits.max_record_bytes) << "bounded";
  }
  EXPECT_EQ(jj.open_count(), 1u);
  ASSERT_TRUE(jj.append(entry("{}")).ok());
  ASSERT_TRUE(jj.append(entry("{}")).ok());
  auto full = jj.append(entry("{}"));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, Error::kResourceExhausted) << "at most max_live open";
  EXPECT_FALSE(jj.append(entry(std::string(300, 'x'))).ok()) << "record over max_record_bytes";
  ASSERT_TRUE(jj.mark_done(keep).ok());
  ASSERT_TRUE(jj.mark_done(keep + 201).ok());
  ASSERT_TRUE(jj.mark_done(keep + 202).ok());
  EXPECT_EQ(jj.open_count(), 0u);
  EXPECT_EQ(jj.file_bytes(), 0u) << "nothing open: truncated";
  EXPECT_EQ(file_text(path), "");
}

TEST(ServiceJournal, UnwritablePathNamesTheFix) {
  auto j = Journal::open("/proc/airt-no/requests.journal", {});
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.error().message.find("journal.path"), std::string::npos) << j.error().message;
}

}  // namespace
}  // namespace airt::service
