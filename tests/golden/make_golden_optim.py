#!/usr/bin/python3
"""Writes golden data for parameter groups, learning-rate schedulers and clip_grad_norm_ (tests/test_optim_golden.cpp).

Run with Debian's python3-torch (CPU PyTorch 1.13):  /usr/bin/python3 tests/golden/make_golden_optim.py
data_optim/cases.json:
  groups_<optimizer>   two parameter groups (the second with its own lr and no weight decay), 4 steps with given
                       gradients: the parameters after every step
  sched_<name>         the learning rate (and momentum / beta1 where cycled) of every group after each of N steps
  swa_<name>           CosineAnnealingLR, then SWALR from an epoch on: the learning rates of every step
  plateau_<mode>       ReduceLROnPlateau fed a metric sequence: the lr after each step
  clip_<norm>          gradients, the total norm clip_grad_norm_ returns and the gradients after clipping
"""
import json
import math
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data_optim")


def tolist(t):
    return t.detach().double().reshape(-1).tolist()


def groups_case(make, steps=4):
    g = torch.Generator().manual_seed(7)
    w = torch.randn(3, 4, generator=g).requires_grad_()
    b = torch.randn(4, generator=g).requires_grad_()
    start = {"w": tolist(w), "b": tolist(b)}
    opt = make([{"params": [w]}, {"params": [b], "lr": 0.05, "weight_decay": 0.0}])
    grads, trajectory = [], []
    for _ in range(steps):
        gw, gb = torch.randn(3, 4, generator=g), torch.randn(4, generator=g)
        w.grad, b.grad = gw.clone(), gb.clone()
        opt.step()
        grads.append({"w": tolist(gw), "b": tolist(gb)})
        trajectory.append({"w": tolist(w), "b": tolist(b)})
    return {"start": start, "grads": grads, "trajectory": trajectory}


def schedule_case(make_opt, make_sched, steps, momentum_key=None):
    params = [torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)]
    opt = make_opt([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.3}])
    sched = make_sched(opt)
    lrs, momenta = [], []
    for _ in range(steps):
        lrs.append([grp["lr"] for grp in opt.param_groups])
        if momentum_key == "momentum":
            momenta.append([grp["momentum"] for grp in opt.param_groups])
        elif momentum_key == "betas":
            momenta.append([grp["betas"][0] for grp in opt.param_groups])
        opt.step()
        sched.step()
    case = {"lrs": lrs}
    if momentum_key:
        case["momenta"] = momenta
    return case


def swa_schedule_case(swa_lr, anneal_epochs, anneal_strategy, switch, steps):
    """CosineAnnealingLR(T_max=steps) until epoch `switch`, then SWALR, as torch.optim.swa_utils' example."""
    params = [torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)]
    opt = torch.optim.SGD([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.3}], lr=0.1)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    swa = torch.optim.swa_utils.SWALR(opt, swa_lr=swa_lr, anneal_epochs=anneal_epochs,
                                      anneal_strategy=anneal_strategy)
    lrs = []
    for epoch in range(steps):
        lrs.append([grp["lr"] for grp in opt.param_groups])
        opt.step()
        if epoch > switch:
            swa.step()
        else:
            cosine.step()
    return {"swa_lr": swa_lr, "anneal_epochs": anneal_epochs, "anneal_strategy": anneal_strategy, "switch": switch,
            "lrs": lrs}


def plateau_case(mode, threshold_mode, metrics, **kw):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode, threshold_mode=threshold_mode, **kw)
    lrs = []
    for m in metrics:
        sched.step(m)
        lrs.append(opt.param_groups[0]["lr"])
    return {"metrics": metrics, "lrs": lrs}


def clip_case(max_norm, norm_type):
    g = torch.Generator().manual_seed(3)
    params = [torch.zeros(5, 3, requires_grad=True), torch.zeros(7, requires_grad=True)]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * 2.0
    before = [tolist(p.grad) for p in params]
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
    return {"max_norm": max_norm, "norm_type": "inf" if math.isinf(norm_type) else norm_type, "grads": before,
            "total_norm": float(total), "clipped": [tolist(p.grad) for p in params]}


def main():
    S = torch.optim.lr_scheduler
    cases = {
        "groups_sgd": groups_case(lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9, weight_decay=0.01)),
        "groups_adam": groups_case(lambda g: torch.optim.Adam(g, lr=0.01, weight_decay=0.02)),
        "groups_adamw": groups_case(lambda g: torch.optim.AdamW(g, lr=0.01, weight_decay=0.02)),
        "groups_rmsprop": groups_case(
            lambda g: torch.optim.RMSprop(g, lr=0.01, momentum=0.9, centered=True, weight_decay=0.01)),
        "groups_adagrad": groups_case(lambda g: torch.optim.Adagrad(g, lr=0.1, lr_decay=0.1, weight_decay=0.02)),
        "sched_linear": schedule_case(lambda g: torch.optim.SGD(g, lr=0.1),
                                      lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4), 7),
        "sched_step": schedule_case(lambda g: torch.optim.SGD(g, lr=0.1), lambda o: S.StepLR(o, 2, 0.5), 6),
        "sched_cosine": schedule_case(lambda g: torch.optim.SGD(g, lr=0.1), lambda o: S.CosineAnnealingLR(o, 5, 0.01), 7),
        "sched_multistep": schedule_case(lambda g: torch.optim.SGD(g, lr=0.1),
                                         lambda o: S.MultiStepLR(o, [5, 2, 5], 0.5), 8),
        "sched_exponential": schedule_case(lambda g: torch.optim.SGD(g, lr=0.1), lambda o: S.ExponentialLR(o, 0.8), 6),
        "sched_onecycle_rmsprop": schedule_case(lambda g: torch.optim.RMSprop(g, lr=0.1, momentum=0.9),
                                                lambda o: S.OneCycleLR(o, max_lr=0.3, total_steps=9), 9, "momentum"),
        "sched_lambda": schedule_case(lambda g: torch.optim.SGD(g, lr=0.1),
                                      lambda o: S.LambdaLR(o, [lambda e: 0.95 ** e, lambda e: 1.0 / (e + 1)]), 6),
        "sched_constant": schedule_case(lambda g: torch.optim.SGD(g, lr=0.1),
                                        lambda o: S.ConstantLR(o, factor=0.5, total_iters=3), 6),
        "sched_polynomial": schedule_case(lambda g: torch.optim.SGD(g, lr=0.1),
                                          lambda o: S.PolynomialLR(o, total_iters=4, power=2.0), 7),
        "sched_warm_restarts": schedule_case(lambda g: torch.optim.SGD(g, lr=0.1),
                                             lambda o: S.CosineAnnealingWarmRestarts(o, 3, 2, 0.01), 16),
        "sched_warm_restarts_fixed": schedule_case(lambda g: torch.optim.SGD(g, lr=0.1),
                                                   lambda o: S.CosineAnnealingWarmRestarts(o, 4), 10),
        "sched_sequential_warmup_cosine": schedule_case(
            lambda g: torch.optim.SGD(g, lr=0.1),
            lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=3), S.CosineAnnealingLR(o, 5)],
                                     [3]), 10),
        "sched_sequential_three": schedule_case(
            lambda g: torch.optim.SGD(g, lr=0.1),
            lambda o: S.SequentialLR(o, [S.ConstantLR(o, factor=0.5, total_iters=2), S.ExponentialLR(o, 0.9),
                                         S.StepLR(o, 2, 0.5)], [2, 5]), 10),
        "sched_sequential_onecycle": schedule_case(
            lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9),
            lambda o: S.SequentialLR(o, [S.OneCycleLR(o, max_lr=0.4, total_steps=6),
                                         S.ConstantLR(o, factor=0.5, total_iters=2)], [6]), 10, "momentum"),
        "sched_onecycle_sgd": schedule_case(lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9),
                                            lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.4], total_steps=11), 11,
                                            "momentum"),
        "sched_onecycle_adam_linear": schedule_case(
            lambda g: torch.optim.Adam(g, lr=0.1),
            lambda o: S.OneCycleLR(o, max_lr=0.2, total_steps=10, anneal_strategy="linear", pct_start=0.25), 10,
            "betas"),
        "sched_onecycle_three_phase": schedule_case(
            lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9),
            lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=12, three_phase=True, div_factor=10.0,
                                   final_div_factor=100.0), 12, "momentum"),
        "swa_cos": swa_schedule_case(0.05, 3, "cos", 4, 12),
        "swa_linear_per_group": swa_schedule_case([0.02, 0.04], 4, "linear", 2, 10),
        "swa_no_anneal": swa_schedule_case(0.01, 0, "cos", -1, 5),
        "plateau_min_rel": plateau_case("min", "rel", [5, 4, 4.0001, 4, 4, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5],
                                        patience=2, factor=0.5, cooldown=1),
        "plateau_max_abs": plateau_case("max", "abs", [0.1, 0.2, 0.25, 0.26, 0.2, 0.24, 0.3, 0.3, 0.3, 0.3],
                                        patience=1, factor=0.1, threshold=0.02, min_lr=0.005),
        "clip_2": clip_case(1.0, 2.0),
        "clip_inf": clip_case(0.5, float("inf")),
        "clip_3_no_change": clip_case(1000.0, 3.0),
    }
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
