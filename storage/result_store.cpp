#include "storage/result_store.h"

#include <simdjson.h>

#include <set>
#include <stdexcept>

namespace etld::storage {

static_assert(kValuePadding >= simdjson::SIMDJSON_PADDING);

namespace {

std::string sql_identifier(std::string_view name) {
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    return out + "\"";
}

const char* sql_type(pipeline::FieldType t) {
    switch (t) {
        case pipeline::FieldType::string:
            return "TEXT";
        case pipeline::FieldType::int64:
        case pipeline::FieldType::boolean:
            return "INTEGER";
        case pipeline::FieldType::float64:
            return "REAL";
    }
    return "ANY";
}

const char* sql_type(pipeline::AggregateFn fn) {
    switch (fn) {
        case pipeline::AggregateFn::count:
        case pipeline::AggregateFn::count_distinct:
            return "INTEGER";
        case pipeline::AggregateFn::top_k:
            return "TEXT";  // JSON array of [value, count] pairs
        default:
            return "REAL";
    }
}

pipeline::FieldType field_type(const pipeline::EventSchema& schema, const std::string& name) {
    for (const auto& f : schema.fields) {
        if (f.name == name) {
            return f.type;
        }
    }
    return pipeline::FieldType::string;
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

namespace {

// CREATE TABLE for `p`, with `extra` (", name TYPE" each) after its columns.
// The key leads with window_end, the order in which windows close and the
// engine emits them (end, start, key): results are appended near the end of
// the table rather than spread over it, and "the windows that ended after X"
// needs no second index (each index is one more B-tree write per result).
std::string table_sql(const pipeline::PipelineSpec& p, const pipeline::EventSchema& schema,
                      const std::string& extra) {
    std::string columns = "window_start INTEGER NOT NULL, window_end INTEGER NOT NULL";
    std::string key = "window_end, window_start";
    for (const auto& g : p.group_by) {
        columns += ", " + sql_identifier(g) + " " + sql_type(field_type(schema, g)) + " NOT NULL";
        key += ", " + sql_identifier(g);
    }
    for (const auto& a : p.aggregates) {
        columns += ", " + sql_identifier(a.name) + " " + sql_type(a.fn);
    }
    columns += ", revision INTEGER NOT NULL, kind TEXT NOT NULL, updated_at INTEGER NOT NULL";
    return "CREATE TABLE IF NOT EXISTS " + sql_identifier(p.name) + " (" + columns + extra +
           ", PRIMARY KEY (" + key + ")) STRICT, WITHOUT ROWID";
}

}  // namespace

std::vector<std::string> table_ddl(const pipeline::PipelineSpec& p,
                                   const pipeline::EventSchema& schema) {
    std::vector<std::string> ddl;
    ddl.push_back(table_sql(p, schema, ""));
    std::string view = "CREATE VIEW IF NOT EXISTS " + sql_identifier(p.name + "_view") +
                       " AS SELECT strftime('%Y-%m-%dT%H:%M:%fZ', window_start / 1000.0, "
                       "'unixepoch') AS window_start_utc, strftime('%Y-%m-%dT%H:%M:%fZ', "
                       "window_end / 1000.0, 'unixepoch') AS window_end_utc, *";
    view += " FROM " + sql_identifier(p.name);
    ddl.push_back(view);
    return ddl;
}

struct ResultStore::Impl {
    Database db;
    pipeline::EngineSpec spec;
    simdjson::dom::parser parser;

    struct PipelineStatements {
        const pipeline::PipelineSpec* spec = nullptr;
        std::vector<pipeline::FieldType> group_types;
        Statement upsert;
        Statement remove;
    };
    std::map<std::string, PipelineStatements, std::less<>> pipelines;
    Statement save_offset;

    Impl(const std::string& path, std::chrono::milliseconds busy_timeout, pipeline::EngineSpec s)
        : db(path, Database::Mode::read_write_create), spec(std::move(s)) {
        db.set_busy_timeout(busy_timeout);
        check(db.exec("PRAGMA journal_mode = WAL"), "enable WAL");
        check(db.exec("PRAGMA synchronous = NORMAL"), "set synchronous");
        // Results land at random places of large tables (one row per window
        // and key): with SQLite's default 2 MB page cache most upserts read a
        // page back from the file and spill dirty pages to the WAL before the
        // commit (profiles: half of the materializer's time in pread/pwrite).
        // 64 MB is taken only as the database grows; fewer, larger
        // checkpoints write a page that many batches touched only once.
        check(db.exec("PRAGMA cache_size = -65536"), "set the page cache size");
        check(db.exec("PRAGMA wal_autocheckpoint = 10000"), "set the checkpoint interval");
        check(db.exec("CREATE TABLE IF NOT EXISTS etld_offsets (topic TEXT NOT NULL, "
                      "partition INTEGER NOT NULL, next_offset INTEGER NOT NULL, "
                      "PRIMARY KEY (topic, partition)) STRICT"),
              "create etld_offsets");
        for (const auto& p : spec.pipelines) {
            migrate(p);
            for (const auto& ddl : table_ddl(p, spec.schema)) {
                check(db.exec(ddl), "create the table of pipeline " + p.name);
            }
            PipelineStatements st;
            st.spec = &p;
            std::string columns = "window_start, window_end";
            std::string params = "?1, ?2";
            std::string key_match = "window_start = ?1 AND window_end = ?2";
            std::string conflict = "window_start, window_end";
            int n = 3;
            for (const auto& g : p.group_by) {
                st.group_types.push_back(field_type(spec.schema, g));
                columns += ", " + sql_identifier(g);
                params += ", ?" + std::to_string(n);
                key_match += " AND " + sql_identifier(g) + " = ?" + std::to_string(n);
                conflict += ", " + sql_identifier(g);
                ++n;
            }
            std::string updates;
            for (const auto& a : p.aggregates) {
                columns += ", " + sql_identifier(a.name);
                params += ", ?" + std::to_string(n++);
                updates += sql_identifier(a.name) + " = excluded." + sql_identifier(a.name) + ", ";
            }
            columns += ", revision, kind, updated_at";
            params += ", ?" + std::to_string(n) + ", ?" + std::to_string(n + 1) + ", ?" +
                      std::to_string(n + 2);
            updates +=
                "revision = excluded.revision, kind = excluded.kind, "
                "updated_at = excluded.updated_at";
            st.upsert =
                prepared("INSERT INTO " + sql_identifier(p.name) + " (" + columns + ") VALUES (" +
                         params + ") ON CONFLICT (" + conflict + ") DO UPDATE SET " + updates);
            st.remove = prepared("DELETE FROM " + sql_identifier(p.name) + " WHERE " + key_match);
            pipelines.emplace(p.name, std::move(st));
        }
        save_offset = prepared(
            "INSERT INTO etld_offsets (topic, partition, next_offset) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset");
    }

    // A table made for an earlier definition of the pipeline: new aggregates
    // get a column; a changed key or column type moves the old table aside
    // as <name>_before_<unix ms> (kept for reference, never written again).
    // A table of the same definition keyed (window_start, window_end, ...),
    // as etld keyed them before, is rebuilt with the current key, rows kept.
    struct Column {
        std::string name;
        std::string type;
        std::int64_t pk = 0;  // position in the primary key, 0 if not in it
    };

    void migrate(const pipeline::PipelineSpec& p) {
        Statement info = prepared("PRAGMA table_info(" + sql_identifier(p.name) + ")");
        std::vector<Column> order;  // as the table has them
        std::map<std::string, Column> existing;
        while (true) {
            const auto r = info.step();
            check(r.error, "read the columns of " + p.name);
            if (r.step != Statement::Step::row) {
                break;
            }
            Column c{info.column_text(1), info.column_text(2), info.column_int64(5)};
            order.push_back(c);
            existing[c.name] = c;
        }
        if (existing.empty()) {
            return;
        }
        // The key columns in the current order; the earlier order swaps the
        // first two.
        std::vector<std::pair<std::string, std::string>> key{{"window_end", "INTEGER"},
                                                             {"window_start", "INTEGER"}};
        for (const auto& g : p.group_by) {
            key.emplace_back(g, sql_type(field_type(spec.schema, g)));
        }
        std::size_t key_columns = 0;
        for (const auto& [name, column] : existing) {
            key_columns += column.pk > 0 ? 1 : 0;
        }
        bool compatible = key_columns == key.size();
        bool current_order = true;
        bool earlier_order = true;
        for (std::size_t i = 0; i < key.size() && compatible; ++i) {
            auto it = existing.find(key[i].first);
            compatible = it != existing.end() && it->second.type == key[i].second;
            if (compatible) {
                const auto at = static_cast<std::int64_t>(i + 1);
                const std::int64_t earlier = i < 2 ? static_cast<std::int64_t>(2 - i) : at;
                current_order = current_order && it->second.pk == at;
                earlier_order = earlier_order && it->second.pk == earlier;
            }
        }
        compatible = compatible && (current_order || earlier_order);
        std::vector<std::string> added;
        for (const auto& a : p.aggregates) {
            auto it = existing.find(a.name);
            if (it == existing.end()) {
                added.push_back("ALTER TABLE " + sql_identifier(p.name) + " ADD COLUMN " +
                                sql_identifier(a.name) + " " + sql_type(a.fn));
            } else if (it->second.type != sql_type(a.fn)) {
                compatible = false;
            }
        }
        if (!compatible) {
            const std::string aside = p.name + "_before_" + std::to_string(now_ms());
            check(db.exec("DROP VIEW IF EXISTS " + sql_identifier(p.name + "_view") +
                          "; DROP INDEX IF EXISTS " + sql_identifier(p.name + "_by_end") +
                          "; ALTER TABLE " + sql_identifier(p.name) + " RENAME TO " +
                          sql_identifier(aside)),
                  "move the table of the earlier definition of " + p.name + " aside");
            return;
        }
        if (!current_order) {
            rekey(p, order);
            return;
        }
        for (const auto& sql : added) {
            check(db.exec(sql), "add a column to " + p.name);
        }
    }

    // Rebuilds the table of `p` (whose columns are `columns`) with the
    // current key, copying every row, in one transaction. Columns the
    // definition no longer has are kept, after its own.
    void rekey(const pipeline::PipelineSpec& p, const std::vector<Column>& columns) {
        std::set<std::string> wanted{"window_start", "window_end", "revision", "kind",
                                     "updated_at"};
        wanted.insert(p.group_by.begin(), p.group_by.end());
        for (const auto& a : p.aggregates) {
            wanted.insert(a.name);
        }
        std::string extra;
        std::string copied;
        for (const auto& c : columns) {
            if (wanted.count(c.name) == 0) {
                extra += ", " + sql_identifier(c.name) + " " + c.type;
            }
            copied += (copied.empty() ? "" : ", ") + sql_identifier(c.name);
        }
        const std::string table = sql_identifier(p.name);
        const std::string old = sql_identifier(p.name + "_rekey");
        const std::string what = "rebuild the table of " + p.name + " with its new key";
        Transaction txn(db);
        check(txn.begin_error(), what);
        check(db.exec("DROP VIEW IF EXISTS " + sql_identifier(p.name + "_view") +
                      "; DROP INDEX IF EXISTS " + sql_identifier(p.name + "_by_end") +
                      "; ALTER TABLE " + table + " RENAME TO " + old),
              what);
        check(db.exec(table_sql(p, spec.schema, extra)), what);
        check(db.exec("INSERT INTO " + table + " (" + copied + ") SELECT " + copied + " FROM " +
                      old + "; DROP TABLE " + old),
              what);
        check(txn.commit(), what);
    }

    static void check(const std::optional<SqliteError>& error, const std::string& what) {
        if (error) {
            throw SqliteOpenError("cannot " + what + ": " + error->describe());
        }
    }

    Statement prepared(const std::string& sql) {
        Database::Prepared p = db.prepare(sql);
        if (p.error) {
            throw SqliteOpenError("cannot prepare '" + sql + "': " + p.error->describe());
        }
        return std::move(p.statement);
    }

    // Binds one group value; false when the JSON type does not fit.
    static bool bind_group(Statement& st, int index, pipeline::FieldType type,
                           simdjson::dom::element value) {
        switch (type) {
            case pipeline::FieldType::string: {
                std::string_view s;
                if (value.get(s) != simdjson::SUCCESS) {
                    return false;
                }
                st.bind_text(index, s);
                return true;
            }
            case pipeline::FieldType::int64: {
                std::int64_t i = 0;
                if (value.get(i) != simdjson::SUCCESS) {
                    return false;
                }
                st.bind_int64(index, i);
                return true;
            }
            case pipeline::FieldType::float64: {
                double d = 0;
                if (value.get(d) != simdjson::SUCCESS) {
                    return false;
                }
                st.bind_double(index, d);
                return true;
            }
            case pipeline::FieldType::boolean: {
                bool b = false;
                if (value.get(b) != simdjson::SUCCESS) {
                    return false;
                }
                st.bind_int64(index, b ? 1 : 0);
                return true;
            }
        }
        return false;
    }

    static void bind_value(Statement& st, int index, pipeline::AggregateFn fn,
                           simdjson::dom::element value) {
        if (value.is_null()) {
            st.bind_null(index);
            return;
        }
        if (fn == pipeline::AggregateFn::top_k) {
            st.bind_text(index, simdjson::minify(value));
            return;
        }
        if (fn == pipeline::AggregateFn::count || fn == pipeline::AggregateFn::count_distinct) {
            std::int64_t i = 0;
            if (value.get(i) == simdjson::SUCCESS) {
                st.bind_int64(index, i);
                return;
            }
        }
        double d = 0;
        if (value.get(d) == simdjson::SUCCESS) {
            st.bind_double(index, d);
        } else {
            st.bind_null(index);
        }
    }

    // Applies one record; a record that cannot be read is skipped (counted),
    // an SQLite failure is returned.
    std::optional<SqliteError> apply_one(const OutputRecord& record, std::int64_t applied_at,
                                         ApplyCounts& counts) {
        simdjson::dom::element doc;
        if (parser.parse(record.value).get(doc) != simdjson::SUCCESS) {
            ++counts.skipped;
            return std::nullopt;
        }
        std::string_view name;
        std::string_view kind;
        std::int64_t start = 0;
        std::int64_t end = 0;
        std::int64_t revision = 0;
        simdjson::dom::object group;
        if (doc["pipeline"].get(name) || doc["kind"].get(kind) || doc["window_start"].get(start) ||
            doc["window_end"].get(end) || doc["revision"].get(revision) ||
            doc["group"].get(group)) {
            ++counts.skipped;
            return std::nullopt;
        }
        auto it = pipelines.find(name);
        if (it == pipelines.end()) {
            ++counts.skipped;
            return std::nullopt;
        }
        PipelineStatements& st = it->second;
        const bool retract = kind == "retract";
        Statement& stmt = retract ? st.remove : st.upsert;
        stmt.reset();
        stmt.bind_int64(1, start);
        stmt.bind_int64(2, end);
        int n = 3;
        for (std::size_t g = 0; g < st.spec->group_by.size(); ++g, ++n) {
            simdjson::dom::element v;
            if (group[st.spec->group_by[g]].get(v) || !bind_group(stmt, n, st.group_types[g], v)) {
                ++counts.skipped;
                return std::nullopt;
            }
        }
        if (!retract) {
            simdjson::dom::object values;
            if (doc["values"].get(values)) {
                ++counts.skipped;
                return std::nullopt;
            }
            for (const auto& a : st.spec->aggregates) {
                simdjson::dom::element v;
                if (values[a.name].get(v)) {
                    stmt.bind_null(n++);
                } else {
                    bind_value(stmt, n++, a.fn, v);
                }
            }
            stmt.bind_int64(n++, revision);
            stmt.bind_text(n++, kind);
            stmt.bind_int64(n++, applied_at);
        }
        const Statement::StepResult step = stmt.step();
        stmt.reset();
        if (step.error) {
            return step.error;
        }
        if (retract) {
            ++counts.deleted;
        } else {
            ++counts.upserted;
        }
        return std::nullopt;
    }
};

ResultStore::ResultStore(const std::string& path, std::chrono::milliseconds busy_timeout,
                         pipeline::EngineSpec spec)
    : impl_(std::make_unique<Impl>(path, busy_timeout, std::move(spec))) {}

ResultStore::~ResultStore() = default;

std::map<std::pair<std::string, std::int32_t>, std::int64_t> ResultStore::next_offsets() {
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> out;
    Database::Prepared p =
        impl_->db.prepare("SELECT topic, partition, next_offset FROM etld_offsets");
    if (p.error) {
        throw SqliteOpenError("cannot read etld_offsets: " + p.error->describe());
    }
    while (true) {
        const Statement::StepResult step = p.statement.step();
        if (step.error) {
            throw SqliteOpenError("cannot read etld_offsets: " + step.error->describe());
        }
        if (step.step == Statement::Step::done) {
            break;
        }
        out[{p.statement.column_text(0), static_cast<std::int32_t>(p.statement.column_int64(1))}] =
            p.statement.column_int64(2);
    }
    return out;
}

std::optional<SqliteError> ResultStore::apply(std::span<const OutputRecord> batch,
                                              ApplyCounts& counts) {
    if (batch.empty()) {
        return std::nullopt;
    }
    Transaction txn(impl_->db);
    if (txn.begin_error()) {
        return txn.begin_error();
    }
    ApplyCounts local;
    // Views into the batch: no copy of the topic name per record.
    std::map<std::pair<std::string_view, std::int32_t>, std::int64_t> next;
    const std::int64_t applied_at = now_ms();  // one transaction, one time
    for (const auto& record : batch) {
        if (auto error = impl_->apply_one(record, applied_at, local)) {
            return error;
        }
        next[{record.topic, record.partition}] = record.offset + 1;
    }
    Statement& save = impl_->save_offset;
    for (const auto& [tp, offset] : next) {
        save.reset();
        save.bind_text(1, tp.first);
        save.bind_int64(2, tp.second);
        save.bind_int64(3, offset);
        const Statement::StepResult step = save.step();
        save.reset();
        if (step.error) {
            return step.error;
        }
    }
    if (auto error = txn.commit()) {
        return error;
    }
    counts.upserted += local.upserted;
    counts.deleted += local.deleted;
    counts.skipped += local.skipped;
    return std::nullopt;
}

}  // namespace etld::storage
