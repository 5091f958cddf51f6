#!/usr/bin/python3
"""The normrt-train experiment in PyTorch, for side-by-side accuracy and epoch time.

Same data (the IDX files of Debian's dataset-fashion-mnist), same models (784-256-256-10 MLP; mlp-bn puts
BatchNorm1d after each hidden Linear, whose bias is then off), same defaults (Adam lr 1e-3 with cosine annealing
to 0 over the epochs, batch 128, 10 epochs, pixels scaled to [0, 1], shuffled each epoch). Runs on the GPU when torch sees one, else on the CPU.
  /usr/bin/python3 benchmarks/train_pytorch.py [--epochs 10] [--threads N]
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def model_for(kind):
    bn = kind == "mlp-bn"
    layers, width = [], 784
    for _ in range(2):
        layers.append(torch.nn.Linear(width, 256, bias=not bn))
        if bn:
            layers.append(torch.nn.BatchNorm1d(256))
        layers.append(torch.nn.ReLU())
        width = 256
    layers.append(torch.nn.Linear(256, 10))
    return torch.nn.Sequential(*layers)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    load = lambda name: read_idx(os.path.join(args.data_dir, name))
    x_train = torch.tensor(load("train-images-idx3-ubyte.gz").reshape(-1, 784), dtype=torch.float32, device=device) / 255
    y_train = torch.tensor(load("train-labels-idx1-ubyte.gz").astype(np.int64), device=device)
    x_test = torch.tensor(load("t10k-images-idx3-ubyte.gz").reshape(-1, 784), dtype=torch.float32, device=device) / 255
    y_test = torch.tensor(load("t10k-labels-idx1-ubyte.gz").astype(np.int64), device=device)
    print(f"torch {torch.__version__} on {device}, {torch.get_num_threads()} CPU threads")
    for kind in ["mlp", "mlp-bn"]:
        torch.manual_seed(0)
        model = model_for(kind).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
        times = []
        for epoch in range(args.epochs):
            model.train()
            start = time.perf_counter()
            perm = torch.randperm(len(x_train), device=device)
            total = 0.0
            for i in range(0, len(x_train), args.batch_size):
                idx = perm[i:i + args.batch_size]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
            schedule.step()
            model.eval()
            with torch.no_grad():
                acc = (model(x_test).argmax(1) == y_test).float().mean().item()
            print(f"[{kind}] epoch {epoch + 1}/{args.epochs} train loss {total / len(x_train):.4f} "
                  f"test acc {acc:.4f} | {times[-1]:.2f} s")
        print(f"[{kind}] final test accuracy {acc:.4f}, mean epoch time {sum(times) / len(times):.2f} s")


if __name__ == "__main__":
    main()
