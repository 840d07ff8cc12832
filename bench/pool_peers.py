"""The Python side of bench/pool_peers.ts: multiprocessing.Pool(2).map of
N tiny tasks at its default chunksize. One untimed map first, then the
median of `runs` timed ones, in items per second.

Usage: python3 bench/pool_peers.py N RUNS  (prints one JSON object)
"""
import json
import multiprocessing
import sys
import time


def square(x):
    return x * x


if __name__ == "__main__":
    n, runs = int(sys.argv[1]), int(sys.argv[2])
    with multiprocessing.Pool(2) as pool:
        pool.map(square, range(n))
        rates = []
        for _ in range(runs):
            start = time.perf_counter()
            pool.map(square, range(n))
            rates.append(n / (time.perf_counter() - start))
    rates.sort()
    print(json.dumps({"items": n, "rate": rates[len(rates) // 2]}))
