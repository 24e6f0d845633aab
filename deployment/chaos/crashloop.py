#!/usr/bin/env python3
"""Crash loop: a message whose handling kills its worker every time must not stop its queue.

Starts PostgreSQL (deployment/local/start-postgres.sh) and 1 `serve`, 1 `orchestrator` and
WORKERS `worker` processes of EvenTicket on it. A trigger on `inventory.reservations` makes the
insert of a 7-ticket reservation sleep, and a watcher SIGKILLs the worker whose session it finds
in that sleep (by the process id in the session's `application_name`), then starts it again:
every handling of that order's ReserveTickets crashes its worker, as a handler that traps on one
message would. Then it places that order and, behind it, ORDERS orders of one ticket (tok_visa),
and waits.

Expected: the worker's counted handlings (see the README's *The bus*) move the poison command to
the dead letters after 5 interrupted handlings, its saga compensates after its step timeout (10 s;
the order is rejected), and every other order is confirmed. Exit 0 only then. A build without
counted handlings crashes for ever, and the orders behind the poison never end: the run stops
after --max-kills kills and exits 1. With several workers, the dead letter must still say 5: a
message one worker counted is left to it for a lease, so one interruption is not counted twice.

    deployment/chaos/crashloop.py [--orders 20] [--workers 1] [--max-kills N] [--bin PATH] [--state-dir DIR]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chaos  # noqa: E402  (its PostgreSQL and HTTP helpers)
from chaos import ROOT, Postgres, log, until_accepted  # noqa: E402

POISON_QUANTITY = 7


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20, help="orders placed behind the poison one")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--max-kills", type=int, default=None,
                        help="give up after this many kills (default 15, and 10 more per further worker)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for every order to end")
    parser.add_argument("--bin", default=None, help="the eventicket executable (default: the debug build)")
    parser.add_argument("--state-dir", default="/tmp/eventicket-crashloop")
    args = parser.parse_args()
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.max_kills is None:
        # A worker that finished its counted handlings crashes once more, uncounted, in a batch.
        args.max_kills = 15 + 10 * (args.workers - 1)

    binary = args.bin or os.path.join(
        subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip(),
        "eventicket")
    subprocess.run(["rm", "-rf", args.state_dir], check=True)
    os.makedirs(os.path.join(args.state_dir, "logs"))
    http_port = subprocess.run([sys.executable, "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"],
                               capture_output=True, text=True, check=True).stdout.strip()
    base = f"http://127.0.0.1:{http_port}"

    postgres = Postgres(args.state_dir)
    env = dict(os.environ, DATABASE_URL=postgres.url)
    subprocess.run([binary, "migrate"], env=env, check=True, capture_output=True)
    created = subprocess.run([binary, "token", "create", "--role", "operator", "--name", "crashloop"],
                             env=env, check=True, capture_output=True, text=True)
    chaos.AUTHORIZATION = "Bearer " + json.loads(created.stdout)["token"]
    # The handling of a 7-ticket reservation hangs in this sleep until the watcher kills its worker.
    postgres.sql(
        "CREATE FUNCTION public.crashloop_hold() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$; "
        "CREATE TRIGGER crashloop_hold BEFORE INSERT ON inventory.reservations FOR EACH ROW "
        f"WHEN (NEW.quantity = {POISON_QUANTITY}) EXECUTE FUNCTION public.crashloop_hold()")

    specs = {
        # Long enough for the orders queued behind the poison to wait out its crash loop (a
        # debug build restarts slowly); the poison order itself ends by this timeout.
        "serve": ["serve", "--port", http_port, "--step-timeout", "10"],
        "orchestrator": ["orchestrator", "--step-timeout", "10"],
    }
    workers = ["worker"] + [f"worker-{n}" for n in range(2, args.workers + 1)]
    for name in workers:
        specs[name] = ["worker"]
    processes = {}

    def start(name):
        logfile = open(os.path.join(args.state_dir, "logs", f"{name}.log"), "a")
        processes[name] = subprocess.Popen([binary] + specs[name], env=env, stdout=logfile, stderr=subprocess.STDOUT)

    for name in specs:
        start(name)
    kills = 0
    ok = False
    try:
        until_accepted("GET", f"{base}/health")
        _, event = until_accepted("POST", f"{base}/events", {"name": "Crash loop", "ticketTypes": [
            {"name": "GA", "priceCents": 3000, "currency": "EUR", "capacity": args.orders + POISON_QUANTITY}]})
        ticket_type = event["ticketTypes"][0]["ticketTypeId"]

        def place(n, quantity):
            status, answer = until_accepted("POST", f"{base}/orders", {
                "customerId": f"c-{n}", "eventId": event["eventId"],
                "lines": [{"ticketTypeId": ticket_type, "quantity": quantity}], "paymentToken": "tok_visa"},
                {"Idempotency-Key": f"crashloop-{n}"})
            if status != 202:
                raise RuntimeError(f"order {n} answered {status}")
            return answer["orderId"]

        poison = place("poison", POISON_QUANTITY)
        others = [place(n, 1) for n in range(args.orders)]
        log(f"placed the poison order {poison} and {len(others)} behind it")

        def status(order):
            _, answer = until_accepted("GET", f"{base}/orders/{order}")
            return answer["status"]

        deadline = time.time() + args.timeout
        statuses = {}
        while time.time() < deadline and kills < args.max_kills:
            # Sessions name their process: `eventicket worker 4711`.
            sleeping = (postgres.sql(
                "SELECT application_name FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND pid <> pg_backend_pid()")
                or "").split()
            pid = int(sleeping[-1]) if sleeping and sleeping[-1].isdigit() else None
            victim = next((name for name in workers if processes[name].pid == pid), None)
            if victim:
                processes[victim].send_signal(signal.SIGKILL)
                processes[victim].wait()
                # A backend in pg_sleep does not notice that its client is gone: end it, and with
                # it the dead worker's transaction.
                postgres.sql("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                             "WHERE wait_event = 'PgSleep' AND pid <> pg_backend_pid()")
                kills += 1
                log(f"SIGKILL {victim} while it handled the poison command ({kills})")
                start(victim)
                continue
            statuses = {order: status(order) for order in [poison] + others}
            if all(value != "pending" for value in statuses.values()):
                break
            time.sleep(0.05)

        dead = postgres.sql("SELECT type || ': ' || error FROM bus.dead_letters") or ""
        outcomes = Counter(statuses.get(order, "pending") for order in others)
        summary = {"kills": kills, "poison_order": statuses.get(poison, "pending"),
                   "others": len(others), "others_by_status": dict(outcomes),
                   "dead_letters": dead.splitlines()}
        print(json.dumps(summary, indent=2))
        ok = (statuses.get(poison) == "rejected" and outcomes["confirmed"] == len(others)
              and "ReserveTickets.v1: its handling was interrupted 5 times" in dead)
        log("passed" if ok else "FAILED")
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        postgres.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
