// The result database: one STRICT table per pipeline, filled from the output
// topic's records, and the table of applied output offsets.
//
// apply() writes a batch of output records and the next offset of each
// partition they came from in one SQLite transaction, so the database always
// equals the result of applying a prefix of every output partition: a batch
// is either wholly in (offsets included) or not at all. The Kafka reader that
// feeds it lives in the daemon; this class does no Kafka I/O.
//
// One ResultStore per database file and thread. WAL mode, so readers (etld
// query, analysts' sqlite3) never block it; synchronous=NORMAL, because a
// lost tail after a power cut is re-applied from the topic.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "etld/pipeline/spec.h"
#include "storage/sqlite.h"

namespace etld::storage {

struct OutputRecord {
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    std::string value;  // the engine's result JSON
};

// A value whose string has this many bytes of spare capacity is parsed in
// place; any other is first copied into the parser's padded buffer.
inline constexpr std::size_t kValuePadding = 64;

struct ApplyCounts {
    std::uint64_t upserted = 0;
    std::uint64_t deleted = 0;
    std::uint64_t skipped = 0;  // unknown pipeline or unreadable record
};

// The DDL of a pipeline's table and its readable view, for tests and docs.
std::vector<std::string> table_ddl(const pipeline::PipelineSpec& pipeline,
                                   const pipeline::EventSchema& schema);

class ResultStore {
  public:
    // Opens (creating if needed) the database and the tables of `spec`'s
    // pipelines. Throws SqliteOpenError when that fails.
    ResultStore(const std::string& path, std::chrono::milliseconds busy_timeout,
                pipeline::EngineSpec spec);
    ~ResultStore();
    ResultStore(const ResultStore&) = delete;
    ResultStore& operator=(const ResultStore&) = delete;

    // (topic, partition) -> next offset to apply.
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> next_offsets();

    // Applies the batch and the offsets after it in one transaction. On an
    // error nothing of the batch is applied; the caller retries it.
    std::optional<SqliteError> apply(std::span<const OutputRecord> batch, ApplyCounts& counts);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace etld::storage
