#!/usr/bin/python3
"""Traffic model of normrt's CUDA BatchNorm kernels per shape: which launches the plan makes (a mirror of
plan_reduction in kernels/batchnorm.cu) and the DRAM bytes per element they should move, as a share of the minimal
bytes (8 per element forward, 12 backward) -- what a GPU run of bench_batchnorm should be read against.

  /usr/bin/python3 benchmarks/bn_traffic_model.py [--sms 132] [--l2-mb 50] [--blocks-per-sm 3]
      [--cooperative-blocks-per-sm 2 2] [--shared-kb-per-sm 228] [--no-cooperative]

Assumptions (H100 SXM and H200: 132 SMs, 50 MB of L2 each):
* A training step reads its input(s) twice. The first read comes from DRAM; the second hits L2 with probability h.
  Outputs are stored evict-first (st.global.cs), so they do not displace the inputs: the L2 available for the
  re-read is modelled as the whole L2 (an upper bound; writes do allocate in L2).
* One launch per step (one split per channel, S > 1): a block re-reads its channel right after reducing it; the
  bytes in flight meanwhile are the resident blocks' channels, so h = min(1, L2 / (resident blocks x channel bytes)).
* Split channels, one cooperative launch (channel_cooperative_kernel): the grid is C x min(splits, resident / C)
  blocks, resident = cooperative blocks per SM x SMs (ptxas on sm_90 for the 32-bit float4 instantiations: 96
  registers forward and backward, so 2 blocks of 256 threads per SM). Each block holds the first chunks of its range
  on chip, read once: 32 KB of input in registers (32 floats per thread) plus the whole chunks (16 KB forward, 32 KB
  backward) that its share of the SM's shared memory holds (228 KB per SM less 1 KB per block on H100/H200). The
  rest is re-read top-down after the grid barrier and hits L2 with h = min(1, L2 / streamed bytes).
* Split rows in the column layout ((N, C) input, channels-last as (N*H*W, C)), one cooperative launch
  (column_step_kernel): blocks of 256 threads, at most 8 units of four floats across (32 columns), so the grid
  is ceil(C / 32) x min(splits, resident / that) blocks (ptxas on sm_90: 67-100 registers for the float
  instantiations, 2 blocks per SM). Each block holds on chip 32 floats per thread in registers plus the whole groups
  of two rows (8 KB of input forward, 16 KB backward per group) that its share of shared memory holds after the merge
  tree's states; the rest is re-read after the grid barriers, last read first, and hits L2 as above. With one split
  of the rows (few rows, or many columns) the same kernel runs without grid barriers: one launch.
* Without the cooperative steps (--no-cooperative, or fewer than 2 resident blocks per channel): reduce, finalize,
  elementwise on the mirrored partition when its grid fills the GPU (the bytes read last come back first),
  h = min(1, L2 / input bytes); flat passes (small grids) and (N, C) input likewise (its elementwise passes run by
  columns when C % 4 == 0: fewer instructions per byte, the same bytes). 401408x64 is channels-last 32x64x112x112 as
  the (N*H*W, C) rows the column kernels see.
* Eval is one flat launch at the minimal bytes.
"""
import argparse
import math

SHAPES = [(256, 1024), (126000, 16), (32, 64, 1000), (32, 64, 112, 112), (256, 256, 14, 14), (128, 2048, 7, 7),
          (8, 32, 512, 512), (64, 512, 28, 28), (8, 64, 16, 56, 56), (2, 32, 64, 64, 64), (401408, 64)]
MIN_SPLIT = 16384


def plan(shape, sms):
    n, c = shape[0], shape[1]
    s = math.prod(shape[2:]) if len(shape) > 2 else 1
    target = 4 * sms
    if s == 1:
        width = 4 if c % 4 == 0 else 1  # float32 units of four columns (aligned operands)
        groups = c // width
        bx = 1
        while bx < 32 and bx < groups:
            bx *= 2
        if width > 1:
            bx = min(bx, 8)  # column_reduction_block
        blocks_x = -(-groups // bx)
        max_splits = max(1, n * bx * width // MIN_SPLIT)
        splits = 1 if 2 * blocks_x >= target else min(max(-(-target // blocks_x), 1), max_splits, 65535)
        return dict(n=n, c=c, s=s, splits=splits, path="columns")
    max_splits = max(1, n * s // MIN_SPLIT)
    splits = 1 if 2 * c >= target else min(max(-(-target // c), 1), max_splits, 65535)
    if splits == 1:
        path = "one launch"
    elif c * splits >= target:
        path = "mirrored"
    else:
        path = "flat"
    return dict(n=n, c=c, s=s, splits=splits, path=path)


REGISTER_BYTES_PER_BLOCK = 256 * 32 * 4


def held_bytes_per_block(inputs, blocks_per_sm, shared_per_sm):
    chunk = 256 * 4 * 16 * inputs  # kUnroll float4 units per thread, per input
    budget = min(227 * 1024, shared_per_sm // blocks_per_sm - 1024)
    return REGISTER_BYTES_PER_BLOCK + budget // chunk * chunk


def column_cooperative_grid(p, coop_per_sm, sms):
    """(blocks across, resident splits) of the cooperative column_step_kernel."""
    width = 4 if p["c"] % 4 == 0 else 1
    groups = p["c"] // width
    bx = 1
    while bx < 32 and bx < groups:
        bx *= 2
    if width > 1:
        bx = min(bx, 8)
    blocks_x = -(-groups // bx)
    return blocks_x, min(p["splits"], coop_per_sm * sms // blocks_x)


def column_held_bytes_per_block(p, inputs, blocks_per_sm, shared_per_sm):
    width = 4 if p["c"] % 4 == 0 else 1
    rows_per_group = 2 if width > 1 else 4
    group = 256 * rows_per_group * width * 4 * inputs
    tree = width * 8 * (8 if width > 1 else 32) * (12 if inputs == 1 else 8)  # states per column per warp
    budget = min(227 * 1024, shared_per_sm // blocks_per_sm - 1024) - tree
    return REGISTER_BYTES_PER_BLOCK + max(budget, 0) // group * group


def model(shape, sms, l2, blocks_per_sm, cooperative_blocks_per_sm, shared_per_sm):
    p = plan(shape, sms)
    numel = p["n"] * p["c"] * p["s"]
    rows = []
    for (mode, inputs, minimal), coop_per_sm in zip((("fwd-train", 1, 8), ("backward", 2, 12)),
                                                     cooperative_blocks_per_sm):
        input_bytes = 4 * inputs * numel
        held = 0.0
        splits = min(p["splits"], coop_per_sm * sms // p["c"])
        if p["path"] == "one launch":
            channel_bytes = 4 * inputs * p["n"] * p["s"]
            in_flight = min(p["c"], sms * blocks_per_sm) * channel_bytes
            hit = min(1.0, l2 / in_flight)
            launches, how = 1, "one launch"
        elif p["path"] != "columns" and splits >= 2:
            held_per_block = held_bytes_per_block(inputs, coop_per_sm, shared_per_sm)
            held = min(1.0, p["c"] * splits * held_per_block / input_bytes)
            streamed = (1 - held) * input_bytes
            hit = 1.0 if streamed == 0 else min(1.0, l2 / streamed)
            launches, how = 1, f"cooperative, {splits} splits"
        elif p["path"] == "columns" and p["splits"] >= 2 and column_cooperative_grid(p, coop_per_sm, sms)[1] >= 2:
            blocks_x, splits = column_cooperative_grid(p, coop_per_sm, sms)
            held_per_block = column_held_bytes_per_block(p, inputs, coop_per_sm, shared_per_sm)
            held = min(1.0, blocks_x * splits * held_per_block / input_bytes)
            streamed = (1 - held) * input_bytes
            hit = 1.0 if streamed == 0 else min(1.0, l2 / streamed)
            launches, how = 1, f"cooperative columns, {splits} splits"
        else:
            hit = min(1.0, l2 / input_bytes)
            # One split in the column layout: one launch (column_step_kernel without grid barriers).
            launches = 3 if p["splits"] > 1 else 1 if p["path"] == "columns" else 2
            how = f"{p['path']}, {p['splits']} split{'s' if p['splits'] > 1 else ''}"
        dram = 4 * inputs * (1 + (1 - held) * (1 - hit)) + 4
        rows.append((mode, how, launches, held, hit, dram, minimal / dram))
    return p, numel, rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sms", type=int, default=132)
    parser.add_argument("--l2-mb", type=float, default=50)
    parser.add_argument("--blocks-per-sm", type=int, default=3)
    parser.add_argument("--cooperative-blocks-per-sm", type=int, nargs=2, default=[2, 2],
                        metavar=("FORWARD", "BACKWARD"))
    parser.add_argument("--shared-kb-per-sm", type=int, default=228)
    parser.add_argument("--no-cooperative", action="store_true")
    args = parser.parse_args()
    l2 = args.l2_mb * 1e6
    coop = (0, 0) if args.no_cooperative else tuple(args.cooperative_blocks_per_sm)
    print("| shape | x MB | fwd-train plan | launches | held | L2 hit | B/elem | ceiling | backward plan | launches | "
          "held | L2 hit | B/elem | ceiling |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    logs = {"fwd-train": [], "backward": []}
    for shape in SHAPES:
        p, numel, rows = model(shape, args.sms, l2, args.blocks_per_sm, coop, args.shared_kb_per_sm * 1024)
        cells = []
        for mode, how, launches, held, hit, dram, ceiling in rows:
            logs[mode].append(math.log(ceiling))
            cells += [how, str(launches), f"{held:.2f}", f"{hit:.2f}", f"{dram:.1f}", f"{100 * ceiling:.0f} %"]
        label = "x".join(map(str, shape))
        print(f"| {label} | {4 * numel / 1e6:.1f} | " + " | ".join(cells) + " |")
    for mode, values in logs.items():
        print(f"{mode}: geometric mean ceiling {100 * math.exp(sum(values) / len(values)):.0f} % of copy bandwidth")


if __name__ == "__main__":
    main()
