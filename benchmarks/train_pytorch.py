#!/usr/bin/python3
"""The normrt-train experiment in PyTorch, for side-by-side accuracy and epoch time.

Same data (the IDX files of Debian's dataset-fashion-mnist), same models (784-256-256-10 MLP; mlp-bn puts
BatchNorm1d after each hidden Linear, whose bias is then off; cnn / cnn-bn, the tutorials' CNN; resnet, the small
ResNet of normrt-train), same defaults (Adam lr 1e-3 with cosine annealing
to 0 over the epochs, batch 128, 10 epochs, pixels scaled to [0, 1], shuffled each epoch), and resnet's recipe
(SGD lr 0.1, momentum 0.9, weight decay 5e-4, cosine; random 28x28 crops of the image zero-padded by 2 and horizontal
flips with probability 0.5). Runs on the GPU when torch sees one, else on the CPU.
  /usr/bin/python3 benchmarks/train_pytorch.py [--models mlp,mlp-bn] [--epochs 10] [--threads N] [--limit-train N]
      [--memory-format contiguous|channels_last]
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


def conv_bn(cin, cout, kernel, stride):
    return torch.nn.Sequential(torch.nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
                               torch.nn.BatchNorm2d(cout))


class Residual(torch.nn.Module):
    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


def model_for(kind):
    if kind in ("mlp", "mlp-bn"):
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
    if kind in ("cnn", "cnn-bn"):
        bn = kind == "cnn-bn"
        layers, channels = [torch.nn.Unflatten(1, (1, 28, 28))], 1
        for width in (32, 64):
            layers.append(torch.nn.Conv2d(channels, width, 3, 1, bias=not bn))
            if bn:
                layers.append(torch.nn.BatchNorm2d(width))
            layers.append(torch.nn.ReLU())
            channels = width
        layers += [torch.nn.MaxPool2d(2), torch.nn.Dropout(0.25), torch.nn.Flatten(),
                   torch.nn.Linear(9216, 128, bias=not bn)]
        if bn:
            layers.append(torch.nn.BatchNorm1d(128))
        layers += [torch.nn.ReLU(), torch.nn.Linear(128, 10)]
        return torch.nn.Sequential(*layers)
    layers, channels = [torch.nn.Unflatten(1, (1, 28, 28)), conv_bn(1, 16, 3, 1), torch.nn.ReLU()], 16
    for width in (16, 32, 64):
        for block in range(2):
            stride = 2 if block == 0 and width != channels else 1
            body = torch.nn.Sequential(conv_bn(channels, width, 3, stride), torch.nn.ReLU(), conv_bn(width, width, 3, 1))
            shortcut = conv_bn(channels, width, 1, stride) if stride != 1 or channels != width else None
            layers += [Residual(body, shortcut), torch.nn.ReLU()]
            channels = width
    layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10)]
    return torch.nn.Sequential(*layers)


def augment(images, padding, flip):
    """Random crops of the zero-padded images and horizontal flips, per sample (normrt's loader does the same)."""
    n = images.shape[0]
    padded = torch.nn.functional.pad(images.reshape(n, 28, 28), (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n,)).tolist()
    dx = torch.randint(0, 2 * padding + 1, (n,)).tolist()
    out = torch.stack([padded[i, y:y + 28, x:x + 28] for i, (y, x) in enumerate(zip(dy, dx))])
    flipped = torch.rand(n) < flip
    out[flipped] = out[flipped].flip(-1)
    return out.reshape(n, 784)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--models", default="mlp,mlp-bn")
    parser.add_argument("--limit-train", type=int, default=0)
    parser.add_argument("--memory-format", default="contiguous", choices=["contiguous", "channels_last"],
                        help="channels_last: model.to(memory_format=torch.channels_last), so that the convolutional "
                             "models' activations are NHWC")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    load = lambda name: read_idx(os.path.join(args.data_dir, name))
    x_train = torch.tensor(load("train-images-idx3-ubyte.gz").reshape(-1, 784), dtype=torch.float32, device=device) / 255
    y_train = torch.tensor(load("train-labels-idx1-ubyte.gz").astype(np.int64), device=device)
    x_test = torch.tensor(load("t10k-images-idx3-ubyte.gz").reshape(-1, 784), dtype=torch.float32, device=device) / 255
    y_test = torch.tensor(load("t10k-labels-idx1-ubyte.gz").astype(np.int64), device=device)
    if args.limit_train:
        x_train, y_train = x_train[:args.limit_train], y_train[:args.limit_train]
    print(f"torch {torch.__version__} on {device}, {torch.get_num_threads()} CPU threads")
    for kind in args.models.split(","):
        torch.manual_seed(0)
        model = model_for(kind).to(device)
        if args.memory_format == "channels_last":
            model = model.to(memory_format=torch.channels_last)
        recipe = kind == "resnet"
        opt = (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4) if recipe
               else torch.optim.Adam(model.parameters(), lr=1e-3))
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
        times = []
        for epoch in range(args.epochs):
            model.train()
            start = time.perf_counter()
            perm = torch.randperm(len(x_train), device=device)
            total = 0.0
            for i in range(0, len(x_train), args.batch_size):
                idx = perm[i:i + args.batch_size]
                images = augment(x_train[idx].cpu(), 2, 0.5).to(device) if recipe else x_train[idx]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(images), y_train[idx])
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
