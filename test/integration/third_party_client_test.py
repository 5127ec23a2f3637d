#!/usr/bin/env python3
"""etld driven by a third-party client, checked against pandas.

The seed tutorial publishes its shop events with kafka-python's KafkaProducer
(acks='all', retries, JSON values, keyed by user). This test does the same
with the records `etld simulate --output -` generates (out-of-order times,
duplicates, malformed records), runs the real etld binary on the demo's three
pipelines (conf/demo.toml: events by type per minute, product metrics over a
4-minute window sliding by 1 minute, per-user sessions with a 1-minute gap),
and compares

  * the output topic, read read_committed with kafka-python's KafkaConsumer
    (latest revision per key, retractions applied),
  * the SQLite tables, read with Python's sqlite3,
  * the dead-letter and late topics,

with what pandas computes from the records the producer sent. The pandas side
is written from the documented semantics (pipeline/core/README.md), not from
etld's code: its own validation, dedup by event_id, epoch-aligned windows,
sessions split at gaps of at least the session gap.

Counts and top-k lists must be equal; sums and ratios may differ by a relative
1e-9 (max(1, |expected|) times 1e-9), since they are added in another order.

Timing never decides the outcome (test/integration/exactly_once_test.cpp
explains why): the whole stream spans far less event time than
max_out_of_orderness, so none of it is late however partitions interleave;
windows are closed by flush events a day later, sent only once the input and
the repartition topics are drained; the deliberately too-late events are sent
only once every expected result is visible.

Usage: third_party_client_test.py --etld PATH [--count N] [--seed S] [--keep]
The broker is ETLD_TEST_BOOTSTRAP, or the address the CTest fixture wrote to
$ETLD_TEST_BROKER_DIR/bootstrap. Exit status 0 when everything matches.
"""

import argparse
import collections
import datetime
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

try:
    import pandas as pd
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
except ImportError as missing:
    sys.exit(f"{missing}: run .ci/install-deps (pandas, lz4) and "
             "test/integration/python-client-deps (kafka-python)")
if "isolation_level" not in KafkaConsumer.DEFAULT_CONFIG:
    sys.exit("this kafka-python cannot read read_committed (Debian 12's 2.0.2 cannot); "
             "put the one test/integration/python-client-deps installs first on PYTHONPATH")

T0 = "2026-01-01T00:00:00Z"
T0_MS = 1767225600000
MINUTE = 60_000
DAY = 86_400_000
STEP = "400ms"             # event time per simulated record
SESSION_GAP = MINUTE
PARTITIONS = 3
REL_TOLERANCE = 1e-9
LATE_EVENTS = 30

SCHEMA_FIELDS = [("user_id", str), ("event_type", str), ("product", str),
                 ("price", float), ("quantity", int)]

# The demo's pipelines as conf/demo.toml declares them. The watermark and
# dedup settings below differ from the demo's on purpose (see the top).
PIPELINES = """
[[pipeline]]
name = "events_by_type"
window = { type = "tumbling", size = "1m" }
group_by = ["event_type"]
emit = "final"
allowed_lateness = "10s"
[[pipeline.aggregate]]
name = "events"
fn = "count"
[[pipeline.aggregate]]
name = "revenue"
fn = "sum"
expr = "price * quantity"
where = "event_type == 'purchase'"

[[pipeline]]
name = "product_metrics"
window = { type = "sliding", size = "4m", slide = "1m" }
group_by = []
emit = "final"
allowed_lateness = "10s"
[[pipeline.aggregate]]
name = "total_events"
fn = "count"
[[pipeline.aggregate]]
name = "top_products"
fn = "top_k"
field = "product"
k = 3
[[pipeline.aggregate]]
name = "unique_users"
fn = "count_distinct"
field = "user_id"
[[pipeline.aggregate]]
name = "revenue"
fn = "sum"
expr = "price * quantity"
where = "event_type == 'purchase'"
[[pipeline.aggregate]]
name = "purchases"
fn = "count"
where = "event_type == 'purchase'"
[[pipeline.aggregate]]
name = "views"
fn = "count"
where = "event_type == 'view'"
[[pipeline.aggregate]]
name = "conversion_rate"
fn = "ratio"
numerator = "purchases"
denominator = "views"

[[pipeline]]
name = "user_sessions"
window = { type = "session", gap = "1m" }
group_by = ["user_id"]
emit = "final"
allowed_lateness = "10s"
[[pipeline.aggregate]]
name = "events"
fn = "count"
[[pipeline.aggregate]]
name = "revenue"
fn = "sum"
expr = "price * quantity"
where = "event_type == 'purchase'"
[[pipeline.aggregate]]
name = "add_to_cart"
fn = "count"
where = "event_type == 'add_to_cart'"
[[pipeline.aggregate]]
name = "purchases"
fn = "count"
where = "event_type == 'purchase'"
"""

# pipeline -> (group-by fields, aggregate names in declaration order)
LAYOUT = {
    "events_by_type": (["event_type"], ["events", "revenue"]),
    "product_metrics": ([], ["total_events", "top_products", "unique_users", "revenue",
                             "purchases", "views", "conversion_rate"]),
    "user_sessions": (["user_id"], ["events", "revenue", "add_to_cart", "purchases"]),
}


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- the broker

def bootstrap_servers():
    if os.environ.get("ETLD_TEST_BOOTSTRAP"):
        return os.environ["ETLD_TEST_BOOTSTRAP"]
    broker_dir = os.environ.get("ETLD_TEST_BROKER_DIR")
    if broker_dir and os.path.exists(os.path.join(broker_dir, "bootstrap")):
        with open(os.path.join(broker_dir, "bootstrap")) as f:
            return f.read().strip()
    sys.exit("no broker: set ETLD_TEST_BOOTSTRAP or ETLD_TEST_BROKER_DIR")


def read_all(bootstrap, topic, timeout_s=30):
    """Every record of `topic` visible read_committed, from the beginning up
    to each partition's end as the broker reports it at the start."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, isolation_level="read_committed",
                             auto_offset_reset="earliest")
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)  # the last stable offset under read_committed
        records = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise RuntimeError(f"reading {topic} timed out")
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def drained(bootstrap, admin, group, topic):
    """True once etld's group has committed an offset past the last record of
    every partition of `topic` (transaction markers may follow it)."""
    ends = {}
    for r in read_all(bootstrap, topic):
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    committed = {tp.partition: meta.offset
                 for tp, meta in admin.list_consumer_group_offsets(group).items()
                 if tp.topic == topic}
    return all(committed.get(p, -1) >= end for p, end in ends.items())


def wait_until(what, condition, timeout_s, etld_log):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            fail_with_log(f"timed out after {timeout_s} s waiting for {what}", etld_log)
        time.sleep(0.5)


def fail_with_log(message, etld_log):
    with open(etld_log, errors="replace") as f:
        text = f.read()
    print(f"FAIL: {message}\n--- etld log (tail) ---\n{text[-4000:]}", flush=True)
    sys.exit(1)


# --------------------------------------------------- what the producer sends

def serialize(value):
    """The seed's value_serializer (JSON), letting bytes through unchanged so
    that records which are not JSON at all can be sent too."""
    if isinstance(value, bytes):
        return value
    return json.dumps(value).encode("utf-8")


def simulated_records(etld, count, seed):
    """(key, value) pairs from `etld simulate`: the value is the parsed JSON
    when it parses, else the raw bytes."""
    command = [etld, "simulate", "--output", "-", "--count", str(count), "--seed", str(seed),
               "--event-time-start", T0, "--event-time-step", STEP, "--disorder", "3s",
               "--duplicate-rate", "0.03", "--malformed-rate", "0.01", "--key", "user_id"]
    run = subprocess.run(command, capture_output=True, check=True)
    log("etld simulate:\n" + run.stderr.decode().rstrip())
    records = []
    for line in run.stdout.split(b"\n"):
        if not line:
            continue
        key, raw = line.split(b"\t", 1)
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        records.append((key.decode() or None, value))
    return records


def event(event_id, time_ms, user, event_type, product, price, quantity):
    stamp = datetime.datetime.fromtimestamp(time_ms / 1000, tz=datetime.timezone.utc)
    return {"event_id": event_id,
            "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time_ms % 1000:03d}Z",
            "user_id": f"user_{user}", "event_type": event_type, "product": product,
            "price": price, "quantity": quantity}


TYPES = ["view", "add_to_cart", "purchase", "remove_from_cart"]
PRODUCTS = ["laptop", "mouse", "keyboard", "monitor", "headphones"]


def resent_copies(records, rng, n):
    """Copies of earlier valid-looking events, re-sent much later, as a
    producer that retries after a lost acknowledgement would."""
    candidates = [r for r in records if isinstance(r[1], dict) and "event_id" in r[1]]
    out = list(records)
    for _ in range(n):
        original = rng.choice(candidates[: len(candidates) // 2])
        out.insert(rng.randrange(len(out) // 2, len(out)), original)
    return out


# ------------------------------------------------- the independent reference

ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?"
                 r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$")


def parse_time(text):
    """Epoch ms of an ISO-8601 time as the schema accepts it, or None."""
    m = ISO.match(text)
    if not m:
        return None
    try:
        stamp = datetime.datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]),
                                  int(m[6]), tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    ms = int((m[7] or ".0")[1:4].ljust(3, "0"))
    offset = 0
    if m[9]:
        offset = (int(m[10]) * 60 + int(m[11] or 0)) * 60_000
        offset = offset if m[9] == "+" else -offset
    return int(stamp.timestamp()) * 1000 + ms - offset


def classify(payload):
    """(None, event dict) for a valid record, or (reason, None), with the
    reasons and their order as pipeline/core/README.md lists them."""
    try:
        doc = json.loads(payload)
    except ValueError:
        return "not_json", None
    if not isinstance(doc, dict):
        return "not_an_object", None
    if "event_id" not in doc:
        return "missing_field", None
    event_id = doc["event_id"]
    if isinstance(event_id, bool) or not isinstance(event_id, (str, int)):
        return "wrong_type", None
    if event_id == "":
        return "empty_id", None
    if "timestamp" not in doc:
        return "missing_field", None
    if not isinstance(doc["timestamp"], str):
        return "wrong_type", None
    t = parse_time(doc["timestamp"])
    if t is None:
        return "bad_timestamp", None
    out = {"event_id": str(event_id), "t": t}
    for name, kind in SCHEMA_FIELDS:
        if name not in doc:
            return "missing_field", None
        v = doc[name]
        ok = (isinstance(v, str) if kind is str else
              isinstance(v, int) and not isinstance(v, bool) if kind is int else
              isinstance(v, (int, float)) and not isinstance(v, bool))
        if not ok:
            return "wrong_type", None
        out[name] = v
    return None, out


def expected_results(events):
    """pipeline -> {(start, end, group values...): {aggregate: value}}."""
    df = events.copy()
    df["amount"] = (df["price"].astype(float) * df["quantity"]).where(
        df["event_type"] == "purchase", 0.0)
    df["is_purchase"] = (df["event_type"] == "purchase").astype(int)
    df["is_view"] = (df["event_type"] == "view").astype(int)
    df["is_cart"] = (df["event_type"] == "add_to_cart").astype(int)
    out = {}

    # Tumbling 1m by event type, aligned to the epoch.
    tumbling = df.assign(start=df["t"] // MINUTE * MINUTE)
    rows = {}
    for (start, event_type), g in tumbling.groupby(["start", "event_type"]):
        rows[(int(start), int(start) + MINUTE, event_type)] = {
            "events": len(g), "revenue": float(g["amount"].sum())}
    out["events_by_type"] = rows

    # Sliding 4m every 1m: each event is in the 4 windows starting at its
    # minute and the 3 before it.
    size, slide = 4 * MINUTE, MINUTE
    sliding = pd.concat([df.assign(start=df["t"] // slide * slide - k * slide)
                         for k in range(size // slide)])
    rows = {}
    for start, g in sliding.groupby("start"):
        counts = g["product"].value_counts()
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        purchases, views = int(g["is_purchase"].sum()), int(g["is_view"].sum())
        rows[(int(start), int(start) + size)] = {
            "total_events": len(g),
            "top_products": [[product, int(n)] for product, n in top],
            "unique_users": int(g["user_id"].nunique()),
            "revenue": float(g["amount"].sum()),
            "purchases": purchases, "views": views,
            "conversion_rate": purchases / views if views else None}
    out["product_metrics"] = rows

    # Sessions per user: a gap of at least SESSION_GAP starts a new one; a
    # session is [first event, last event + gap).
    s = df.sort_values(["user_id", "t"]).reset_index(drop=True)
    new = (s["user_id"] != s["user_id"].shift()) | (s["t"] - s["t"].shift() >= SESSION_GAP)
    s["session"] = new.cumsum()
    rows = {}
    for _, g in s.groupby("session"):
        rows[(int(g["t"].min()), int(g["t"].max()) + SESSION_GAP, g["user_id"].iloc[0])] = {
            "events": len(g), "revenue": float(g["amount"].sum()),
            "add_to_cart": int(g["is_cart"].sum()), "purchases": int(g["is_purchase"].sum())}
    out["user_sessions"] = rows
    return out


# ------------------------------------------------------------ what etld made

def topic_results(records, problems):
    """The output topic applied as a consumer that upserts by key would:
    the highest revision per key wins, a retraction deletes the key."""
    state = {name: {} for name in LAYOUT}
    revisions = {}
    emitted = collections.Counter()
    for r in records:
        key = json.loads(r.key)
        value = json.loads(r.value)
        name = value["pipeline"]
        group_by, aggregates = LAYOUT[name]
        ident = (value["window_start"], value["window_end"],
                 *(value["group"][field] for field in group_by))
        if key != [name, *ident]:
            problems.append(f"output topic: key {r.key!r} does not name the window of its value")
        emitted[(name, ident)] += 1
        if value["revision"] < revisions.get((name, ident), -1):
            continue
        revisions[(name, ident)] = value["revision"]
        if value["kind"] == "retract":
            state[name].pop(ident, None)
        else:
            state[name][ident] = dict(value["values"], kind=value["kind"],
                                      revision=value["revision"])
    # Every pipeline here emits in final mode: exactly one record per window.
    for (name, ident), n in emitted.items():
        if n != 1:
            problems.append(f"output topic: {name} {ident} emitted {n} times")
    return state


def sqlite_results(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    state = {}
    for name, (group_by, aggregates) in LAYOUT.items():
        rows = {}
        for row in db.execute(f'SELECT * FROM "{name}"'):
            values = {a: row[a] for a in aggregates}
            if values.get("top_products") is not None:
                values["top_products"] = json.loads(values["top_products"])
            rows[(row["window_start"], row["window_end"], *(row[g] for g in group_by))] = dict(
                values, kind=row["kind"], revision=row["revision"])
        state[name] = rows
    db.close()
    return state


def sqlite_row_count(path):
    if not os.path.exists(path):
        return 0
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return sum(db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                       for name in LAYOUT)
        finally:
            db.close()
    except sqlite3.Error:
        return 0  # tables not created yet


def same(actual, expected):
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(expected, float) or isinstance(actual, float):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return False
        return abs(actual - expected) <= REL_TOLERANCE * max(1.0, abs(expected))
    return type(actual) is type(expected) and actual == expected


def compare(what, actual, expected, problems):
    """Appends one line per difference (the first 20 per pipeline) and a
    count, so a failure names the windows and values that differ."""
    for name, want in expected.items():
        got = actual.get(name, {})
        lines = []
        for ident in sorted(set(want) | set(got), key=repr):
            if ident not in got:
                lines.append(f"missing {ident} (expected {want[ident]})")
                continue
            if ident not in want:
                lines.append(f"unexpected {ident}: {got[ident]}")
                continue
            row = got[ident]
            if row.get("kind") != "final" or row.get("revision") != 0:
                lines.append(f"{ident} is {row.get('kind')}/{row.get('revision')}, "
                             "expected final/0")
            for aggregate, value in want[ident].items():
                if not same(row.get(aggregate, "absent"), value):
                    lines.append(f"{ident} {aggregate} = {row.get(aggregate, 'absent')!r}, "
                                 f"expected {value!r}")
        if lines:
            problems.extend(f"{what} {name}: {line}" for line in lines[:20])
            problems.append(f"{what} {name}: {len(lines)} differences "
                            f"({len(got)} rows, expected {len(want)})")


def header(record, name):
    for key, value in record.headers or []:
        if key == name:
            return value.decode()
    return None


# ------------------------------------------------------------------ the test

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--etld", required=True, help="the etld binary")
    parser.add_argument("--count", type=int, default=6000, help="simulated records")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    started = time.monotonic()
    bootstrap = bootstrap_servers()
    rng = random.Random(args.seed)

    work = tempfile.mkdtemp(prefix="etld-pyclient-")
    name = f"pyclient-{int(time.time() * 1000)}-{os.getpid()}"
    group = f"{name}-group"
    topics = {"input": f"{name}-in", "output": f"{name}-out", "late": f"{name}-late",
              "dead": f"{name}-dlq"}
    db_path = os.path.join(work, "results.db")
    config_path = os.path.join(work, "etld.toml")
    etld_log = os.path.join(work, "etld.log")

    # What the producer will send, and what pandas expects of it.
    main_records = resent_copies(simulated_records(args.etld, args.count, args.seed), rng, 40)
    flush_records = [(f"user_{u}", event(f"flush-{u}", T0_MS + DAY + u, u, TYPES[u % 4],
                                         PRODUCTS[u % 5], 1.0, 1)) for u in range(1, 101)]
    late_records = []
    for i in range(LATE_EVENTS):
        u = rng.randint(1, 100)
        late_records.append((f"user_{u}", event(f"late-{i}", T0_MS + 10 * MINUTE + i * 1000, u,
                                                rng.choice(TYPES), rng.choice(PRODUCTS),
                                                99.99, 2)))
    valid, dead_expected = [], collections.Counter()
    for _, value in main_records:
        payload = serialize(value)
        reason, parsed = classify(payload)
        if reason:
            dead_expected[(reason, payload)] += 1
        else:
            valid.append(parsed)
    events = pd.DataFrame(valid).drop_duplicates("event_id", keep="first")
    expected = expected_results(events)
    late_expected = collections.Counter(
        (pipeline, serialize(value)) for _, value in late_records for pipeline in LAYOUT)
    n_results = sum(len(rows) for rows in expected.values())
    span_min = (events["t"].max() - events["t"].min()) / MINUTE
    log(f"pandas: {len(main_records)} records, {len(valid)} valid, {len(events)} distinct events "
        f"over {span_min:.1f} min of event time; {sum(dead_expected.values())} malformed; "
        f"expects {n_results} results (" +
        ", ".join(f"{k} {len(v)}" for k, v in expected.items()) + ")")
    assert all(expected.values()) and dead_expected and len(valid) > len(events)
    # No event of the main stream may be late, whatever the interleaving.
    assert span_min < 55, "the stream must span less event time than max_out_of_orderness"

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topics["input"], PARTITIONS, 1)])
    with open(config_path, "w") as f:
        f.write(f"""[service]
name = "{name}"
log_level = "info"
state_dir = "{work}"
[kafka]
bootstrap_servers = "{bootstrap}"
group_id = "{group}"
transactional_id = "{name}-txn"
commit_interval = "100ms"
[input]
topics = ["{topics['input']}"]
partitioned_by = "user_id"
[schema]
id_field = "event_id"
time_field = "timestamp"
time_format = "iso8601"
[schema.fields]
user_id = "string"
event_type = "string"
product = "string"
price = "double"
quantity = "int"
[dedup]
horizon = "1h"
[watermark]
max_out_of_orderness = "1h"
idle_timeout = "1d"
[topics]
output = "{topics['output']}"
late = "{topics['late']}"
dead_letter = "{topics['dead']}"
internal_prefix = "{name}"
partitions = {PARTITIONS}
[storage]
sqlite_path = "{db_path}"
[http]
enabled = false
{PIPELINES}""")

    log_file = open(etld_log, "ab")
    etld = subprocess.Popen([args.etld, "run", "--config", config_path],
                            stdout=log_file, stderr=subprocess.STDOUT)
    try:
        # The seed's producer: acks='all', retries, one request in flight so a
        # retry cannot reorder, JSON values, the user as the key (so that
        # kafka-python's default partitioner, murmur2 like Java's, puts each
        # user on one partition: the config says partitioned_by = "user_id").
        producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            value_serializer=serialize,
            key_serializer=lambda k: k.encode("utf-8") if k else None,
            acks="all", retries=5, max_in_flight_requests_per_connection=1, linger_ms=5)

        def produce(records):
            futures = [producer.send(topics["input"], key=k, value=v) for k, v in records]
            producer.flush(timeout=60)
            for f in futures:
                f.get(timeout=10)  # raises if the broker did not acknowledge it

        produce(main_records)
        log(f"produced {len(main_records)} records to {topics['input']}")

        # The flush events close every window; they must come after every
        # main-stream event reached its task: wait until the input and then
        # each repartition topic are consumed and committed.
        wait_until("etld's repartition topics",
                   lambda: len([t for t in admin.list_topics()
                                if t.startswith(f"{name}-{group}-repartition-")]) == 2,
                   60, etld_log)
        stages = [topics["input"]] + sorted(t for t in admin.list_topics()
                                            if t.startswith(f"{name}-{group}-repartition-"))
        for topic in stages:
            wait_until(f"{topic} to be drained",
                       lambda: drained(bootstrap, admin, group, topic), 120, etld_log)
        log("input and repartition topics drained; sending the flush events")
        produce(flush_records)

        wait_until(f"{n_results} results on {topics['output']}",
                   lambda: len(read_all(bootstrap, topics["output"])) >= n_results, 120, etld_log)
        log(f"results visible; sending {len(late_records)} too-late events")
        produce(late_records)
        producer.close()
        n_late = sum(late_expected.values())
        wait_until(f"{n_late} late records", lambda: len(read_all(bootstrap, topics["late"]))
                   >= n_late, 60, etld_log)
        wait_until(f"{n_results} SQLite rows", lambda: sqlite_row_count(db_path) >= n_results,
                   60, etld_log)
        time.sleep(2)  # room for a wrongly extra record to show up
    finally:
        etld.send_signal(signal.SIGTERM)
        try:
            status = etld.wait(timeout=60)
        except subprocess.TimeoutExpired:
            etld.kill()
            status = etld.wait()
        log_file.close()

    problems = []
    if status != 0:
        problems.append(f"etld exited with {status}")
    compare("output topic", topic_results(read_all(bootstrap, topics["output"]), problems),
            expected, problems)
    compare("SQLite", sqlite_results(db_path), expected, problems)

    dead = collections.Counter((header(r, "etld.reason"), r.value)
                               for r in read_all(bootstrap, topics["dead"]))
    if dead != dead_expected:
        for (reason, raw), n in (dead - dead_expected).items():
            problems.append(f"dead-letter topic: unexpected {n} x {reason} {raw[:120]!r}")
        for (reason, raw), n in (dead_expected - dead).items():
            problems.append(f"dead-letter topic: missing {n} x {reason} {raw[:120]!r}")
    late = collections.Counter((header(r, "etld.pipeline"), r.value)
                               for r in read_all(bootstrap, topics["late"]))
    if late != late_expected:
        problems.append(f"late topic: {sum(late.values())} records, expected "
                        f"{sum(late_expected.values())}; differences: "
                        f"{list((late - late_expected).items())[:5]} "
                        f"{list((late_expected - late).items())[:5]}")

    admin.close()
    elapsed = time.monotonic() - started
    if problems:
        print("FAIL: etld's results differ from pandas':", *problems, sep="\n  ", flush=True)
        print(f"(work directory kept: {work})")
        return 1
    log(f"PASS: {n_results} results on the output topic and in SQLite, "
        f"{sum(dead.values())} dead letters, {sum(late.values())} late records "
        f"equal pandas' ({elapsed:.1f} s)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
