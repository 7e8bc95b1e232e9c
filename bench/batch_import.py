#!/usr/bin/python3
"""The batch import as a careful Python user would write it, for bench/run_batch_bench.sh: walk a
directory, read and hash each file, skip hashes the database holds, decode with PIL, resize to the
model's input and normalise (ImageNet mean and std, RGB), run the same TorchScript MobileNetV2
(frozen, optimize_for_inference) in batches of 16 under torch.inference_mode, and store each
batch's scans and results in one SQLite transaction.

    batch_import.py DIR MODEL.pt DB [--size 224] [--batch 16]

Prints: "python: <images/s> images/s (<n> images in <s> s)".
"""
import argparse
import hashlib
import json
import os
import sqlite3
import time

import numpy as np
import torch
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("model")
    parser.add_argument("db")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()

    model = torch.jit.load(args.model).eval()
    model = torch.jit.optimize_for_inference(torch.jit.freeze(model))
    db = sqlite3.connect(args.db)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS scans (sha256 TEXT PRIMARY KEY, path TEXT, data BLOB)")
    db.execute("CREATE TABLE IF NOT EXISTS results (sha256 TEXT PRIMARY KEY, probabilities TEXT)")

    pending = []  # (sha256, path, bytes, tensor)
    done = 0

    def flush():
        nonlocal done
        if not pending:
            return
        batch = torch.from_numpy(np.stack([p[3] for p in pending]))
        with torch.inference_mode():
            probs = torch.softmax(model(batch), dim=1).tolist()
        with db:  # one transaction per batch
            db.executemany("INSERT INTO scans VALUES (?, ?, ?)",
                           [(p[0], p[1], p[2]) for p in pending])
            db.executemany("INSERT INTO results VALUES (?, ?)",
                           [(p[0], json.dumps(pr)) for p, pr in zip(pending, probs)])
        done += len(pending)
        pending.clear()

    start = time.perf_counter()
    for root, _, files in os.walk(args.dir):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                data = f.read()
            sha = hashlib.sha256(data).hexdigest()
            if db.execute("SELECT 1 FROM scans WHERE sha256 = ?", (sha,)).fetchone():
                continue
            try:
                with Image.open(path) as im:
                    rgb = im.convert("RGB").resize((args.size, args.size), Image.BILINEAR)
            except OSError:
                continue
            x = (np.asarray(rgb, dtype=np.float32) / 255.0 - MEAN) / STD
            pending.append((sha, path, data, np.ascontiguousarray(x.transpose(2, 0, 1))))
            if len(pending) >= args.batch:
                flush()
    flush()
    seconds = time.perf_counter() - start
    print(f"python: {done / seconds:.2f} images/s ({done} images in {seconds:.1f} s)")


if __name__ == "__main__":
    main()
