"""How exploitable is the fixed point of a KL magnet? Kuhn Poker, computed with OpenSpiel.

Self-play with a KL penalty of weight alpha to a fixed uniform reference converges (at best) to
the entropy-regularised equilibrium, a quantal-response equilibrium, not to Nash. OpenSpiel's
magnetic mirror descent with dilated entropy (`mmd_dilated`, Sokota et al. 2023) computes that
fixed point for each alpha; its exploitability is how far from Nash a fixed magnet of that
strength leaves the policy even when training converges. This is why `configs/kuhn_equilibrium.yaml`
moves its magnet (`loss.ref_update_every`). Tabular, exact; no model involved.

    python benchmarks/kuhn_regularised_equilibrium.py [--iterations 2000]
"""

from __future__ import annotations

import argparse


def main() -> None:
    import pyspiel
    from open_spiel.python.algorithms import exploitability, mmd_dilated

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--alphas", default="1.5,1.0,0.5,0.3,0.2,0.1,0.05")
    args = p.parse_args()
    game = pyspiel.load_game("kuhn_poker")
    print("alpha (KL weight, reward units)  exploitability of the regularised equilibrium")
    for alpha in map(float, args.alphas.split(",")):
        solver = mmd_dilated.MMDDilatedEnt(game, alpha=alpha, stepsize=1.0)
        for _ in range(args.iterations):
            solver.update_sequences()
        print(f"{alpha:>6g}  {exploitability.exploitability(game, solver.get_policies()):.4f}")


if __name__ == "__main__":
    main()
