#!/usr/bin/python3
"""Host tensor ops, normrt beside PyTorch 1.13 in one run: bench_nn's cpu/to-memory-format rows (x.to(MemoryFormat) from
the other format, float32 and bfloat16) and cpu/tensor-op rows (arithmetic, maximum, exp, log, clamp and pow,
reductions, running sums and variances, sorting and top-k, copies, random draws, softmax, cross-entropy (also spatial)
and BCE-with-logits, dropout, pooling (three rows channels-last), reflection padding, activations: sigmoid, tanh, GELU,
SiLU, Mish, ELU, leaky ReLU, hardswish, 2x upsampling, norm layers, a squeeze-and-excitation block and a concatenation,
forward and backward) and cpu/conv2d-train rows (normrt-train's ResNet convolutions, forward and the input + weight
gradients) and the cpu/max-pool-2x2 rows (forward and backward, both memory formats) and the cpu/optimizer-step-1M rows
(one step of each optimizer over a 1M-parameter MLP), each against its PyTorch equivalent at each thread count asked
for. The sides alternate benchmark by benchmark, round after round (see compare_bn_cpu.py for why), PyTorch timed as
Google Benchmark times normrt (compare_bn_cpu.steady_seconds); each side's time is the median over the rounds, the
speed-up PyTorch's best thread count's over normrt's.

  /usr/bin/python3 benchmarks/compare_host_ops_cpu.py [--filter REGEX] [--threads 1,2] [--repetitions 5] [--rounds 3]
"""
import argparse
import math
import os
import re
import statistics
import subprocess

from compare_bn_cpu import ROOT, normrt_time, steady_seconds


def torch_call(torch, name):
    """PyTorch's equivalent of a bench_nn CPU row, as a function to time."""
    parts = name.split("/")
    F = torch.nn.functional
    if parts[1] == "to-memory-format":
        target, dtype, dims = parts[2:5]
        fmt = torch.channels_last if target == "channels_last" else torch.contiguous_format
        source = torch.channels_last if target == "contiguous" else torch.contiguous_format
        x = torch.randn([int(d) for d in dims.split("x")]).to(getattr(torch, dtype)).contiguous(memory_format=source)
        return lambda: x.contiguous(memory_format=fmt)
    if parts[1] == "conv2d-train":  # cpu/conv2d-train/{forward,backward}/{normrt,im2col}/NxCxHxW-kKsS->O
        m = re.match(r"(\d+)x(\d+)x(\d+)x(\d+)-k(\d+)s(\d+)->(\d+)", parts[4])
        n, c, h, w, k, stride, o = (int(v) for v in m.groups())
        x, weight = torch.randn(n, c, h, w), torch.randn(o, c, k, k)
        y = F.conv2d(x, weight, None, stride, k // 2)
        dy = torch.randn_like(y)
        if parts[2] == "forward":
            return lambda: F.conv2d(x, weight, None, stride, k // 2)
        return lambda: torch.ops.aten.convolution_backward(dy, x, weight, None, [stride] * 2, [k // 2] * 2, [1, 1],
                                                           False, [0, 0], 1, [True, True, False])
    if parts[1] == "max-pool-2x2":  # cpu/max-pool-2x2/{normrt,normrt-channels-last}/NxCxHxW: forward and backward
        x = torch.randn([int(d) for d in parts[3].split("x")])
        if parts[2].endswith("-channels-last"):
            x = x.contiguous(memory_format=torch.channels_last)
        y, indices = F.max_pool2d(x, 2, 2, return_indices=True)
        dy = torch.randn_like(y)

        def forward_backward():
            _, found = F.max_pool2d(x, 2, 2, return_indices=True)
            torch.ops.aten.max_pool2d_with_indices_backward(dy, x, [2, 2], [2, 2], [0, 0], [1, 1], False, found)
        return forward_backward
    if parts[1] == "optimizer-step-1M":  # one step over bench_nn's 784-1024-192-10 MLP, default options
        shapes = [(1024, 784), (1024,), (192, 1024), (192,), (10, 192), (10,)]
        params = [torch.randn(s, requires_grad=True) for s in shapes]
        for p in params:
            p.grad = torch.randn(p.shape)
        optim = torch.optim
        opt = {"sgd-momentum": lambda: optim.SGD(params, lr=0.01, momentum=0.9), "adam": lambda: optim.Adam(params),
               "adadelta": lambda: optim.Adadelta(params), "rmsprop": lambda: optim.RMSprop(params),
               "adagrad": lambda: optim.Adagrad(params), "adamax": lambda: optim.Adamax(params),
               "radam": lambda: optim.RAdam(params)}[parts[2]]()
        return opt.step
    op, dims = parts[2:4]
    shape = [int(d) for d in dims.split("x")]
    x = torch.randn(shape)
    if op.endswith("-channels-last"):
        x = x.contiguous(memory_format=torch.channels_last)
    per_channel = torch.ones(shape[1], 1, 1) if len(shape) == 4 else None
    positive = x.abs()
    targets = torch.full((shape[0],), 3)
    x_grad = x.clone().requires_grad_()
    probabilities = torch.rand(shape)
    probabilities_grad = torch.rand(shape).requires_grad_()
    target = torch.randn(shape)
    prelu_of = {"prelu-train": lambda: torch.nn.PReLU(shape[1]), "prelu-shared-train": torch.nn.PReLU}
    prelu = prelu_of[op]() if op in prelu_of else None
    group_norm = torch.nn.GroupNorm(32, shape[1]) if op == "group-norm-train" else None
    se = None
    if op == "squeeze-excitation-train":
        import torchvision  # Debian's python3-torchvision
        se = torchvision.ops.SqueezeExcitation(shape[1], 16)
    layer_norm = torch.nn.LayerNorm(shape[-1]) if op == "layer-norm-train" else None
    up_conv = torch.nn.ConvTranspose2d(shape[1], 32, 2, stride=2) if op == "conv-transpose-k2s2-train" else None
    tokens = torch.arange(32 * 128).mul(7919).remainder(shape[0]).view(32, 128)  # bench_nn's bench_tokens
    token_grad = torch.ones(32, 128, shape[-1])
    # bench_nn's scrambled_columns, permuted_rows and segment_rows
    columns = (torch.arange(shape[-1]) * 7 % shape[-1]).expand(shape).contiguous() if op == "gather-dim3" else None
    rows = (torch.arange(shape[0]) * 7919 % shape[0])[:, None].expand(shape).contiguous() if op == "gather-dim0" \
        else None
    segments = (torch.arange(shape[0]) % 512)[:, None].expand(shape).contiguous() \
        if op.startswith("scatter-") and op.endswith("-dim0") else None
    picks = (torch.arange(shape[0]) % shape[1])[:, None] if op == "gather-backward-logits" else None
    pick_grad = torch.ones(shape[0], 1) if op == "gather-backward-logits" else None
    positive_mask, negative_mask = x > 0.0, x <= 0.0
    buckets = (x * 1000.0).long() if op == "floor-divide-int64" else None
    denominators = positive + 1.0
    huge = x * 1e6 if op == "sin-huge-angles" else None
    edges = torch.arange(-3.0, 3.0 + 1e-9, 6.0 / 254.0)
    channel_lo, channel_hi = (per_channel * -0.5, per_channel * 0.5) if per_channel is not None else (None, None)
    first_positive = x[:, 0] > 0 if op == "index-mask-rows" else None
    row_segments = torch.arange(shape[0]) % 512 if op == "index-put-accumulate" else None
    return {
        "gather-dim3": lambda: torch.gather(x, 3, columns),
        "gather-dim0": lambda: torch.gather(x, 0, rows),
        "scatter-add-dim0": lambda: torch.zeros(512, shape[1]).scatter_add_(0, segments, x),
        "scatter-reduce-amax-dim0": lambda: torch.zeros(512, shape[1]).scatter_reduce_(0, segments, x, "amax",
                                                                                      include_self=False),
        "scatter-reduce-mean-dim0": lambda: torch.zeros(512, shape[1]).scatter_reduce_(0, segments, x, "mean",
                                                                                      include_self=False),
        "gather-backward-logits": lambda: torch.zeros(shape).scatter_add_(1, picks, pick_grad),
        "index-select-dim1": lambda: torch.index_select(x, 1, torch.arange(shape[1] // 2) * 2),
        "embedding-lookup": lambda: F.embedding(tokens, x),
        "embedding-backward": lambda: torch.ops.aten.embedding_dense_backward(token_grad, tokens, shape[0], -1, False),
        "embedding-bag-mean": lambda: F.embedding_bag(tokens, x, mode="mean"),
        "embedding-bag-sum-weighted": lambda: F.embedding_bag(tokens.reshape(-1), x, torch.arange(0, 32 * 128, 128),
                                                              mode="sum",
                                                              per_sample_weights=torch.full((32 * 128,), 0.5)),
        "add": lambda: x + x,
        "gt-scalar": lambda: x > 0.0,
        "where": lambda: torch.where(positive_mask, x, 0.0),
        "masked-fill": lambda: x.masked_fill(negative_mask, 0.0),
        "flip-dim3": lambda: torch.flip(x, [3]),
        "roll-dims23": lambda: torch.roll(x, (3, 3), (2, 3)),
        "repeat-interleave-dim1": lambda: torch.repeat_interleave(x, 2, 1),
        "tril": lambda: torch.tril(x),
        "round": lambda: torch.round(x),
        "round-decimals-2": lambda: torch.round(x, decimals=2),
        "floor-divide-scalar": lambda: torch.floor_divide(x, 0.05),
        "remainder-scalar": lambda: x % 0.05,
        "floor-divide-int64": lambda: torch.floor_divide(buckets, 7),
        "nan-to-num": lambda: torch.nan_to_num(x),
        "floor": lambda: torch.floor(x),
        "div-trunc-scalar": lambda: torch.div(x, 0.05, rounding_mode="trunc"),
        "addcmul": lambda: torch.addcmul(x, x, positive, value=0.5),
        "addcdiv": lambda: torch.addcdiv(x, x, denominators, value=0.5),
        "lerp": lambda: torch.lerp(x, positive, 0.3),
        "bucketize-255": lambda: torch.bucketize(x, edges),
        "clamp-tensor-per-channel": lambda: torch.clamp(x, channel_lo, channel_hi),
        "nonzero": lambda: torch.nonzero(positive_mask),
        "masked-select": lambda: torch.masked_select(x, positive_mask),
        "masked-scatter": lambda: torch.masked_scatter(x, positive_mask, x),
        "count-nonzero": lambda: torch.count_nonzero(x),
        "index-mask-rows": lambda: x[first_positive],
        "index-put-accumulate": lambda: torch.zeros(512, shape[1]).index_put_((row_segments,), x, accumulate=True),
        "add-per-channel": lambda: x + per_channel,
        "mul-scalar": lambda: x * 2.0,
        "maximum": lambda: torch.maximum(x, x),
        "exp": lambda: torch.exp(x),
        "log": lambda: torch.log(positive),
        "log1p": lambda: torch.log1p(positive),
        "expm1": lambda: torch.expm1(x),
        "log2": lambda: torch.log2(positive),
        "exp2": lambda: torch.exp2(x),
        "erf": lambda: torch.erf(x),
        "sin": lambda: torch.sin(x),
        "tan": lambda: torch.tan(x),
        "sin-huge-angles": lambda: torch.sin(huge),
        "rsqrt": lambda: torch.rsqrt(positive),
        "clamp": lambda: torch.clamp(x, -0.5, 0.5),
        "pow-square": lambda: torch.pow(x, 2),
        "pow-fraction": lambda: torch.pow(positive, 0.37),
        "pow-tensor": lambda: torch.pow(positive, x),
        "sum-dim1": lambda: x.sum(1),
        "sum-dim3": lambda: x.sum(3),
        "sum-dim0": lambda: x.sum(0),
        "var-dim1": lambda: x.var(1),
        "cumsum-dim1": lambda: x.cumsum(1),
        "cumsum-dim3": lambda: x.cumsum(3),
        "var-dim3": lambda: x.var(3),
        "var-dim0": lambda: x.var(0),
        "clone": lambda: x.clone(),
        "randn": lambda: torch.randn(shape),
        "log-softmax": lambda: torch.log_softmax(x, 1),
        "topk-5": lambda: torch.topk(x, 5, 1),
        "sort-rows": lambda: torch.sort(x, stable=True, dim=1),  # normrt's sort is stable
        # normrt's cross_entropy returns the loss and the logits' gradient: PyTorch's forward and backward
        "cross-entropy": lambda: torch.autograd.grad(F.cross_entropy(x_grad, targets), x_grad),
        # normrt's returns the loss and the logits' gradient, as cross-entropy's
        "bce-with-logits": lambda: torch.autograd.grad(F.binary_cross_entropy_with_logits(x_grad, probabilities),
                                                       x_grad),
        "dropout": lambda: F.dropout(x, 0.25, True),
        "max-pool-3x3s2": lambda: F.max_pool2d(x, 3, 2, 1, return_indices=True),
        "max-pool-3x3s2-channels-last": lambda: F.max_pool2d(x, 3, 2, 1, return_indices=True),
        "global-avg-pool": lambda: F.adaptive_avg_pool2d(x, 1),
        "global-avg-pool-backward": lambda: torch.ops.aten._adaptive_avg_pool2d_backward(
            torch.ones(shape[0], shape[1], 1, 1), x),
        "avg-pool-56x56": lambda: F.adaptive_avg_pool2d(x, 1),
        "global-avg-pool-channels-last": lambda: F.adaptive_avg_pool2d(x, 1),
        "global-max-pool-train": lambda: torch.autograd.grad(F.adaptive_max_pool2d(x_grad, 1), x_grad,
                                                             torch.ones(shape[0], shape[1], 1, 1)),
        "adaptive-max-pool-7x7-train": lambda: torch.autograd.grad(F.adaptive_max_pool2d(x_grad, 7), x_grad,
                                                                   torch.ones(shape[0], shape[1], 7, 7)),
        "avg-pool-3x3s2": lambda: F.avg_pool2d(x, 3, 2, 1),
        "avg-pool-3x3s2-channels-last": lambda: F.avg_pool2d(x, 3, 2, 1),
        "softmax": lambda: torch.softmax(x, 1),
        "reflect-pad-3": lambda: F.pad(x, (3, 3, 3, 3), mode="reflect"),
        "reflect-pad-3-backward": lambda: torch.ops.aten.reflection_pad2d_backward(
            F.pad(x, (3, 3, 3, 3), mode="reflect"), x, [3, 3, 3, 3]),
        "cross-entropy-spatial": lambda: torch.autograd.grad(
            F.cross_entropy(x_grad, torch.full((shape[0],) + tuple(shape[2:]), 3)), x_grad),
        "sigmoid": lambda: torch.sigmoid(x),
        "tanh": lambda: torch.tanh(x),
        "gelu": lambda: F.gelu(x),
        "gelu-backward": lambda: torch.ops.aten.gelu_backward(x, x),
        "gelu-tanh": lambda: F.gelu(x, approximate="tanh"),
        "gelu-tanh-backward": lambda: torch.ops.aten.gelu_backward(x, x, approximate="tanh"),
        "silu": lambda: F.silu(x),
        "silu-backward": lambda: torch.ops.aten.silu_backward(x, x),
        "mish": lambda: F.mish(x),
        "elu": lambda: F.elu(x),
        "leaky-relu": lambda: F.leaky_relu(x, 0.2),
        "hardswish": lambda: F.hardswish(x),
        "upsample-nearest-2x": lambda: F.interpolate(x, scale_factor=2.0),
        "upsample-bilinear-2x": lambda: F.interpolate(x, scale_factor=2.0, mode="bilinear"),
        "upsample-bicubic-2x": lambda: F.interpolate(x, scale_factor=2.0, mode="bicubic"),
        "upsample-bicubic-2x-backward": lambda: torch.autograd.grad(
            F.interpolate(x_grad, scale_factor=2.0, mode="bicubic"), x_grad,
            torch.ones(shape[0], shape[1], 2 * shape[2], 2 * shape[3])),
        "upsample-bilinear-2x-backward": lambda: torch.autograd.grad(
            F.interpolate(x_grad, scale_factor=2.0, mode="bilinear"), x_grad,
            torch.ones(shape[0], shape[1], 2 * shape[2], 2 * shape[3])),
        # the elementwise losses return the loss and the input's gradient, as cross-entropy's
        "mse-loss": lambda: torch.autograd.grad(F.mse_loss(x_grad, target), x_grad),
        "l1-loss": lambda: torch.autograd.grad(F.l1_loss(x_grad, target), x_grad),
        "smooth-l1-loss": lambda: torch.autograd.grad(F.smooth_l1_loss(x_grad, target), x_grad),
        "huber-loss": lambda: torch.autograd.grad(F.huber_loss(x_grad, target), x_grad),
        "bce": lambda: torch.autograd.grad(F.binary_cross_entropy(probabilities_grad, probabilities),
                                           probabilities_grad),
        "conv-transpose-k2s2-train": lambda: torch.autograd.grad(
            up_conv(x_grad), [x_grad, *up_conv.parameters()], torch.ones(shape[0], 32, 2 * shape[2], 2 * shape[3])),
        "kl-div": lambda: torch.autograd.grad(F.kl_div(x_grad, probabilities, reduction="batchmean"), x_grad),
        "group-norm-train": lambda: torch.autograd.grad(group_norm(x_grad), [x_grad, *group_norm.parameters()], x),
        "squeeze-excitation-train": lambda: torch.autograd.grad(se(x_grad), [x_grad, *se.parameters()], x),
        "concat-identity-train": lambda: torch.autograd.grad(torch.cat([x_grad, x_grad], 1), x_grad,
                                                             torch.cat([x, x], 1)),
        "concat-identity-train-channels-last": lambda: torch.autograd.grad(torch.cat([x_grad, x_grad], 1), x_grad,
                                                                           torch.cat([x, x], 1)),
        "layer-norm-train": lambda: torch.autograd.grad(layer_norm(x_grad), [x_grad, *layer_norm.parameters()], x),
        "prelu-train": lambda: torch.autograd.grad(prelu(x_grad), [x_grad, prelu.weight], x),
        "prelu-shared-train": lambda: torch.autograd.grad(prelu(x_grad), [x_grad, prelu.weight], x),
        "permute-to-nhwc": lambda: x.permute(0, 2, 3, 1).contiguous(),
        "pixel-shuffle-2": lambda: F.pixel_shuffle(x, 2),
        "instance-norm-train": lambda: torch.autograd.grad(F.instance_norm(x_grad), x_grad, x),
    }[op]


def torch_time(torch, name, threads, repetitions):
    torch.set_num_threads(threads)
    return steady_seconds(torch_call(torch, name), repetitions)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", default=os.path.join(ROOT, "build", "benchmarks", "bench_nn"))
    parser.add_argument("--filter",
                        default="^cpu/(to-memory-format|tensor-op|conv2d-train/[a-z]+/normrt|max-pool-2x2/normrt|"
                                "optimizer-step-1M)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import torch

    threads = [int(t) for t in args.threads.split(",")]
    listing = subprocess.run([args.bench, "--benchmark_list_tests", f"--benchmark_filter={args.filter}"],
                             capture_output=True, text=True, check=True).stdout.split()
    listing = [name for name in listing
               if re.match(r"cpu/(to-memory-format|tensor-op|conv2d-train|max-pool-2x2/normrt|optimizer-step)", name)]
    ours = {name: [] for name in listing}
    theirs = {(name, t): [] for name in listing for t in threads}
    for _ in range(args.rounds):
        for name in listing:
            ours[name].append(normrt_time(args.bench, name, args.repetitions))
            for t in threads:
                theirs[(name, t)].append(torch_time(torch, name, t, args.repetitions))
    print(f"| op | normrt us | PyTorch us ({'/'.join(map(str, threads))} threads) | speed-up |")
    print("|---|---|---|---|")
    ratios = []
    for name in listing:
        mine = statistics.median(ours[name])
        others = [statistics.median(theirs[(name, t)]) for t in threads]
        ratios.append(min(others) / mine)
        label = "/".join(name.split("/")[1:]).replace("/real_time", "")
        print(f"| {label} | {mine * 1e6:.0f} | {' / '.join(f'{o * 1e6:.0f}' for o in others)} | {ratios[-1]:.2f}x |")
    print(f"geometric mean {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}x, lowest {min(ratios):.2f}x")


if __name__ == "__main__":
    main()
