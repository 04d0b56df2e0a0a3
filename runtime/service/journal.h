// The request journal: every accepted request is appended (and fdatasync'd) before it is
// queued or run, and marked done (written, not synced) once its final message or error has been acknowledged
// by the broker. After a crash, airt serve runs every request without a done mark again
// (same id, reply topic and correlation data) or answers it with an explicit error, so
// no request is answered by silence.
//
// File format: records one after another, each
//   magic u32 "AIRJ" | body length u32 | CRC-32 of the body u32 | body
// with a body of type u8 (1 request, 2 done, 3 final sent, 4 final released) and seq u64,
// and for a request: wall-clock arrival i64 (ns since the epoch), has_correlation u8,
// then the reply topic, the correlation data and the raw request payload, each as
// length u32 + bytes; for a final sent, the reply as length u32 + bytes and its MQTT
// packet id u16 (absent in journals written before packet ids were kept). A record cut
// by a crash mid-write (short, or a CRC mismatch) is detected, logged and dropped.
//
// Bounded: at most `max_live` requests are open at once (the server's slots + queue +
// replies awaiting an acknowledgement), each at most `max_record_bytes`; the file is
// compacted (rewritten with the open records only) when it passes `compact_bytes`, and
// truncated when nothing is open. Not thread-safe: the serving loop owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/core/result.h"

namespace airt::service {

struct JournalEntry {
  uint64_t seq = 0;
  int64_t arrival_wall_ns = 0;  // CLOCK_REALTIME, so it means something after a restart
  std::string reply_topic;
  std::string correlation;
  bool has_correlation = false;
  std::string payload;  // the request message as received
  // The final message or error handed to the reply link and not completed when airt
  // stopped: the restart resumes it (reply_link.h) instead of running the request.
  std::string final_payload;
  bool has_final = false;
  uint16_t packet_id = 0;  // the QoS 2 packet id it went under (0: none recorded)
  bool released = false;   // the broker's PUBREC came: only the PUBREL is left
};

struct JournalLimits {
  size_t max_live = 64;              // open requests at once
  size_t max_record_bytes = 1 << 20;  // one request record, header included
  size_t compact_bytes = 4 << 20;     // rewrite the file once it is this long
};

class Journal {
 public:
  // Opens (creating it and its directory when missing) and reads `path`. The open
  // requests found are returned by take_recovered(). Errors name the path and the fix.
  static Result<std::unique_ptr<Journal>> open(const std::string& path, const JournalLimits& limits);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Requests a previous run left open, oldest first (once; they stay open until marked done).
  std::vector<JournalEntry> take_recovered();
  // The same, still held (empty once taken).
  const std::vector<JournalEntry>& recovered() const { return recovered_; }
  // How many records the open found cut short or corrupt (each logged).
  int torn_records() const { return torn_; }

  // Appends `e` (its seq is assigned and returned) durably. kResourceExhausted when
  // max_live requests are open or the record is over max_record_bytes.
  Result<uint64_t> append(JournalEntry e);
  // Records the final reply of a request and its packet id before it goes to the broker
  // (written, not synced: a process crash keeps it; unknown seqs are ignored).
  Status mark_sent(uint64_t seq, std::string_view reply, uint16_t packet_id);
  // Records that the broker holds that reply (PUBREC), before the PUBREL goes.
  Status mark_released(uint64_t seq);
  // Marks a request done (unknown seqs are ignored); compacts when due.
  Status mark_done(uint64_t seq);

  size_t open_count() const { return live_.size(); }
  uint64_t file_bytes() const { return size_; }
  const std::string& path() const { return path_; }

  // Exposed for tests: the bytes of one record.
  static std::string encode(uint8_t type, const JournalEntry& e);

 private:
  Journal(std::string path, const JournalLimits& limits) : path_(std::move(path)), limits_(limits) {}
  Status load();
  Status write_record(const std::string& record, bool sync);
  Status append_to_open(uint8_t type, const JournalEntry& e);
  Status compact();

  std::string path_;
  JournalLimits limits_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t live_bytes_ = 0;  // of the open records
  uint64_t next_seq_ = 1;
  int torn_ = 0;
  std::unordered_map<uint64_t, std::string> live_;  // seq -> its encoded records (request, final sent)
  std::vector<JournalEntry> recovered_;
};

}  // namespace airt::service
