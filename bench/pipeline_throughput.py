"""Throughput of the whole worker (events/s) against a no-op Faust agent and a bare consumer.

Run on purpose (not in CI), with a broker (see bench/_common.py):

    .venv/bin/python bench/pipeline_throughput.py [--events 30000] [--seed 7]
        [--baseline-tree DIR] [--rounds N]

One run: N case events of a realistic mix (the simulator's stories of Hechi's centers,
`supervisor/simulate/`: normal, late and irregular cases begun over the last 40 days,
every event up to now, in time order) are produced once into a fresh topic with the
worker's partition count. Then four consumers read all of it, one after the other, each
with its own consumer group / app id:

    aiokafka   a bare AIOKafkaConsumer, getmany() loop, nothing done per record
    faust      a no-op Faust agent on the same topic (same App options as the worker:
               raw serialisers, stream_wait_empty=False, `stream.events()`), own process
    eager      the same no-op agent on the worker's transport (its consumer hands each
               message over eagerly: supervisor/worker/transport.py)
    worker     the real `supervisor worker` process, all rules on, RocksDB table,
               alerts, facts and dead letters published; done when its
               events_consumed+rejected+duplicates metric (/metrics) reaches N

With `--baseline-tree`, the worker of another checkout reads the same topic too, with
its own consumer group; with `--rounds N` all of it is repeated on fresh topics, the two
workers taking turns at reading first, and the mean of the worker's ratio to the baseline
is printed.

Each rate is (events read after the first) / (time from the first to the last), so start
up and group joins are not counted. Goal: worker >= 0.5 x faust (it was 0.8 before the
batched worker; see bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c
import _profile

from supervisor.settings import Settings


def realistic_events(count: int, seed: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of about `count` events from the simulator's case stories."""
    from supervisor.centers import CenterRegistry
    from supervisor.simulate import Catalogue, Scenario
    from supervisor.simulate.producer import encode
    from supervisor.simulate.scenario import SHANGHAI

    rng = random.Random(seed)
    scenario = Scenario(rng, CenterRegistry.load(), Catalogue.load())
    now = datetime.now(SHANGHAI) - timedelta(minutes=1)
    timed: list[tuple[datetime, int, dict[str, object]]] = []
    while len(timed) < count:
        story = scenario.new_story(now - timedelta(minutes=rng.randrange(60 * 24 * 40)))
        for at, event in zip(story.times, story.events, strict=True):
            if at <= now:
                timed.append((at, len(timed), event))
    timed.sort(key=lambda item: item[:2])
    return [encode(event) for _, _, event in timed[:count]]


def event_mix(messages: list[tuple[bytes, bytes]]) -> dict[str, int]:
    mix: dict[str, int] = {}
    for _, value in messages:
        kind = json.loads(value)["type"]
        mix[kind] = mix.get(kind, 0) + 1
    return dict(sorted(mix.items(), key=lambda kv: -kv[1]))


async def bare_consumer(server: str, topic: str, total: int) -> dict[str, float]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=server,
        group_id=f"bench-bare-{c.run_id()}",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    await consumer.start()
    seen = 0
    first = last = 0.0
    first_count = 0
    try:
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10000)
            got = sum(len(records) for records in batches.values())
            if got and not seen:
                first, first_count = time.perf_counter(), got
            seen += got
            last = time.perf_counter()
    finally:
        await consumer.stop()
    return {"events": seen, "seconds": last - first, "rate": (seen - first_count) / (last - first)}


def noop_faust_child(
    topic: str, total: int, app_id: str, server: str, port: int, result: Path, eager: bool
) -> None:
    """The no-op agent: a Faust app like the worker's, that only counts. Writes its timing
    as JSON to `result` (Faust sends standard output to its log), then stops. `eager`: on
    the worker's transport (supervisor/worker/transport.py) instead of Faust's."""
    import faust

    from supervisor.worker import transport

    app = faust.App(
        app_id,
        broker=[f"kafka://{s}" for s in server.split(",")],
        store="memory://",
        datadir=str(result.parent / f"{app_id}-data"),  # the run's directory, not the cwd
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        web_port=port,
        web_enabled=False,
        stream_wait_empty=False,
        autodiscover=False,
    )
    if eager:
        transport.install(app)
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    state = {"seen": 0, "first": 0.0, "last": 0.0, "cpu": 0.0}

    @app.agent(source)
    async def noop(stream: faust.StreamT[bytes]) -> None:
        async for _event in stream.events():
            state["seen"] += 1
            if state["seen"] == 1:
                state["first"] = time.perf_counter()
                state["cpu"] = time.process_time()
            if state["seen"] >= total:
                state["last"] = time.perf_counter()
                rate = (total - 1) / (state["last"] - state["first"])
                seconds = state["last"] - state["first"]
                cpu = (time.process_time() - state["cpu"]) / (total - 1) * 1000
                result.write_text(
                    json.dumps(
                        {"events": total, "seconds": seconds, "rate": rate, "cpu_ms_per_event": cpu}
                    )
                )
                asyncio.get_running_loop().call_later(0.5, app._crash, SystemExit(0))

    worker = faust.Worker(app, loglevel="warning", quiet=True)
    worker.execute_from_commandline()


def run_noop_faust(
    server: str, topic: str, total: int, log: Path, *, eager: bool = False
) -> dict[str, float]:
    app_id = f"bench-noop-{'eager-' if eager else ''}{c.run_id()}"
    result = log.with_suffix(".json")
    process = subprocess.Popen(
        [
            c.PYTHON,
            __file__,
            "--noop-faust-child",
            topic,
            str(total),
            app_id,
            server,
            str(c.free_port()),
            str(result),
            "eager" if eager else "faust",
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=c.ROOT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 1800
        while not result.exists() or not result.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the no-op Faust agent ended without a result; see {log}")
            time.sleep(0.2)
        return dict(json.loads(result.read_text()))
    finally:
        c.terminate(process, timeout=15)


def run_worker(
    env: dict[str, str], total: int, log: Path, profile: float = 0.0, tree: Path = c.ROOT
) -> dict[str, float]:
    """The real worker over the topic (the code of the checkout `tree`); with `profile`
    seconds, a py-spy profile taken once it is consuming, printed summarised
    (bench/_profile.py)."""
    settings = Settings.from_env(env)
    process = c.spawn(["worker"], env, log, cwd=tree)
    url = f"http://127.0.0.1:{settings.worker_web_port}/metrics"
    try:
        profiler: threading.Thread | None = None
        first = 0.0
        first_count = first_cpu = 0.0
        handled = 0.0
        deadline = time.monotonic() + 1800
        while handled < total:
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited with {process.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not finish in 30 minutes")
            try:
                text = c.fetch_text(url)
            except OSError:
                time.sleep(0.2)
                continue
            handled = c.worker_handled(text)
            now = time.perf_counter()
            if handled and not first:
                first, first_count, first_cpu = now, handled, c.cpu_seconds(process.pid)
                if profile:
                    profiler = threading.Thread(
                        target=_profile.record,
                        args=(process.pid, profile, log.with_name("worker-profile.txt")),
                    )
                    profiler.start()
            time.sleep(1.0)  # /metrics costs the worker CPU (~20 ms a page): not too often
        last = time.perf_counter()
        cpu = c.cpu_seconds(process.pid) - first_cpu
        alerts = c.metric_sum(text, "supervisor_worker_alerts_raised_total")
        states = "supervisor_worker_case_states_total"
        facts = "supervisor_worker_facts_total"
        return {
            "states_staged": c.metric_sum(text, states, {"step": "staged"}),
            "states_written": c.metric_sum(text, states, {"step": "written"}),
            "facts_published": c.metric_sum(text, facts, {"result": "published"}),
            "facts_unchanged": c.metric_sum(text, facts, {"result": "unchanged"}),
            "events": handled,
            "seconds": last - first,
            "rate": (handled - first_count) / (last - first),
            "cpu_ms_per_event": cpu / (handled - first_count) * 1000,
            "alerts": alerts,
        }
    finally:
        c.terminate(process)
        if profiler is not None:
            profiler.join()
            raw = log.with_name("worker-profile.txt")
            if raw.exists():
                print(_profile.summary(raw))
                print(_profile.summary(raw, top=25, under="CaseAgent.run"))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--noop-faust-child":
        topic, total, app_id, server, port, result, variant = sys.argv[2:9]
        noop_faust_child(
            topic, int(total), app_id, server, int(port), Path(result), variant == "eager"
        )
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile", type=float, default=0.0, help="seconds of py-spy on the worker (0: none)"
    )
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="another checkout (e.g. a git worktree of an earlier commit) whose worker also "
        "reads the topic, with its own consumer group, after this one's (before it in "
        "even rounds)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds, each on a topic of its own; with --baseline-tree the two workers "
        "take turns at reading first",
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["aiokafka", "faust", "eager", "worker"]
    )
    args = parser.parse_args()

    server = c.bootstrap()
    rounds = [one_round(args, server, number) for number in range(1, args.rounds + 1)]
    if len(rounds) > 1:
        summarise(rounds)


def one_round(args: argparse.Namespace, server: str, number: int) -> dict[str, dict[str, float]]:
    """Every reader over a topic of its own; in an even round the baseline's worker reads
    before this tree's (which reads first may matter: bench/RESULTS.md, 2026-12-06)."""
    run = c.run_id()
    home = Path(tempfile.mkdtemp(prefix=f"bench-throughput-{run}-"))
    env = c.run_env(server, run, home)
    settings = c.create_topics(env)
    messages = realistic_events(args.events, args.seed)
    began = time.perf_counter()
    asyncio.run(c.produce_all(server, settings.topic_events, messages))
    print(
        f"round {number}, run {run}: {len(messages)} events produced to "
        f"{settings.topic_events} ({settings.partitions} partitions) in "
        f"{time.perf_counter() - began:.1f} s; load {c.load_average()}; logs in {home}"
    )
    print("mix:", event_mix(messages))
    results: dict[str, dict[str, float]] = {}
    if "aiokafka" not in args.skip:
        results["aiokafka"] = asyncio.run(bare_consumer(server, settings.topic_events, args.events))
        print(f"aiokafka  {results['aiokafka']['rate']:>9,.0f} events/s")
    if "faust" not in args.skip:
        results["faust"] = run_noop_faust(
            server, settings.topic_events, args.events, home / "noop.log"
        )
        print(
            f"faust     {results['faust']['rate']:>9,.0f} events/s (no-op agent; "
            f"{results['faust']['cpu_ms_per_event']:.3f} ms CPU an event)"
        )
    if "eager" not in args.skip:
        results["eager"] = run_noop_faust(
            server, settings.topic_events, args.events, home / "noop-eager.log", eager=True
        )
        print(
            f"eager     {results['eager']['rate']:>9,.0f} events/s (no-op agent on the "
            f"worker's transport; {results['eager']['cpu_ms_per_event']:.3f} ms CPU an event)"
        )
    workers: list[str] = [] if "worker" in args.skip else ["worker"]
    if args.baseline_tree is not None:
        workers.insert(0 if number % 2 == 0 else len(workers), "baseline")
    for name in workers:
        if name == "worker":
            results["worker"] = run_worker(env, args.events, home / "worker.log", args.profile)
            print(
                f"worker    {results['worker']['rate']:>9,.0f} events/s "
                f"({results['worker']['alerts']:.0f} alerts raised; "
                f"{results['worker']['cpu_ms_per_event']:.3f} ms CPU an event)"
            )
            figures = results["worker"]
            print(
                f"          case states staged {figures['states_staged']:,.0f}, written "
                f"{figures['states_written']:,.0f}; facts sent "
                f"{figures['facts_published']:,.0f}, unchanged {figures['facts_unchanged']:,.0f}"
            )
        else:
            assert args.baseline_tree is not None
            tree = args.baseline_tree.resolve()
            before = c.run_env(server, run, home, SUPERVISOR_APP_ID=f"bench-{run}-baseline")
            results["baseline"] = run_worker(before, args.events, home / "baseline.log", tree=tree)
            print(
                f"baseline  {results['baseline']['rate']:>9,.0f} events/s (the worker of "
                f"{tree}; {results['baseline']['cpu_ms_per_event']:.3f} ms CPU an event)"
            )
    if "faust" in results:
        base = results["faust"]["rate"]
        for _name, figures in results.items():
            figures["ratio_to_faust"] = figures["rate"] / base
        if "worker" in results:
            ratio = results["worker"]["ratio_to_faust"]
            verdict = "met" if ratio >= 0.5 else "MISSED"
            print(f"worker / no-op faust = {ratio:.2f} (goal >= 0.5: {verdict})")
    if "aiokafka" in results and "worker" in results:
        print(f"worker / aiokafka = {results['worker']['rate'] / results['aiokafka']['rate']:.3f}")
    path = c.save(
        "pipeline_throughput",
        {"run": run, "events": args.events, "mix": event_mix(messages), "results": results},
    )
    print(f"figures saved in {path}")
    return results


def summarise(rounds: list[dict[str, dict[str, float]]]) -> None:
    """Each reader's mean over the rounds, and the worker's mean ratio to the baseline's
    (per round, so that a slow minute of the machine weighs on both sides of it)."""
    print(f"over {len(rounds)} rounds:")
    for name in rounds[0]:
        rates = [result[name]["rate"] for result in rounds]
        cpu = [result[name]["cpu_ms_per_event"] for result in rounds if name != "aiokafka"]
        line = f"  {name:<9} {statistics.mean(rates):>9,.0f} events/s (mean)"
        if cpu:
            line += f"; {statistics.mean(cpu):.3f} ms CPU an event"
        print(line)
    if "worker" in rounds[0] and "baseline" in rounds[0]:
        ratios = [result["worker"]["rate"] / result["baseline"]["rate"] for result in rounds]
        shown = ", ".join(f"{ratio:.2f}" for ratio in ratios)
        print(f"  worker / baseline per round: {shown} (mean {statistics.mean(ratios):.2f})")


if __name__ == "__main__":
    main()
