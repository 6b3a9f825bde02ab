"""The learned critic: V(s) of a turn's prompt, for turn-level estimators (GAE).

A state is a turn's prompt; its value is a linear head on the final hidden state at the prompt's
last token (where the model is about to answer), so one head serves every role: the role is in
the prompt. Two placements (`critic.model`):
- "shared": the head sits on the policy model itself. The learner reads the hidden state from the
  same forward pass that computes the log-probs, and the value loss trains the shared trunk too
  (an auxiliary task; `critic.value_coef` sets how hard it pulls).
- "separate": a second copy of the starting model carries the head (Open-Reasoner-Zero's
  critic): the policy never feels the value loss, at the cost of a second model in memory and a
  second forward pass over the prompts.
The head starts at zero, so before it learns GAE with gamma = lambda = 1 gives the Monte-Carlo
return. The head is float32; a separate model keeps the policy's dtype (bf16 steps through float32
masters, as the policy does). Both are owned by the learner's optimizer and saved in its
checkpoint state, so a resume restores them bit for bit.

Not here: the advantage formula (advantages.gae), the loss (loss.value_loss), the update (learner).
"""

from __future__ import annotations

import torch

from sparring.training.logprobs import left_padded, lm_parts


class Critic(torch.nn.Module):
    def __init__(self, policy_model, placement: str = "shared", separate_model=None) -> None:
        super().__init__()
        if placement not in ("shared", "separate"):
            raise ValueError(f"critic.model must be 'shared' or 'separate', got {placement!r}")
        if (placement == "separate") != (separate_model is not None):
            raise ValueError("a separate critic needs its own model (and a shared one none)")
        self.placement = placement
        self.body = lm_parts(separate_model)[0] if separate_model is not None else None
        self._policy = [lm_parts(policy_model)[0]]  # a list: not registered, not the critic's parameters
        hidden = self._hidden_size(policy_model if separate_model is None else separate_model)
        device = next(policy_model.parameters()).device
        self.head = torch.nn.Linear(hidden, 1, dtype=torch.float32, device=device)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    @property
    def shared(self) -> bool:
        return self.body is None

    @staticmethod
    def _hidden_size(model) -> int:
        config = model.get_base_model().config if hasattr(model, "get_base_model") else model.config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        return int(text.hidden_size)

    def state_dict_cpu(self) -> dict[str, torch.Tensor]:
        """Head and separate body (the shared policy is the policy's own checkpoint), on the CPU."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self.state_dict().items()}

    def load_state_dict_cpu(self, state: dict[str, torch.Tensor]) -> None:
        try:
            self.load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(f"the checkpoint's critic does not fit this critic (was critic.model changed?): {e}") from None

    def value_of(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B,) values from (B, H) final hidden states at the prompts' last tokens."""
        return self.head(hidden.float()).squeeze(-1)

    def prompt_values(self, prompts: list[list[int]]) -> torch.Tensor:
        """(len(prompts),) values: the critic's body (the policy's when shared) over the prompts,
        each distinct prompt run once, left-padded so that every prompt ends at the last position."""
        body = self.body if self.body is not None else self._policy[0]
        device = self.head.weight.device
        distinct = list(dict.fromkeys(tuple(p) for p in prompts))
        ids, mask, positions = left_padded(distinct, device)
        hidden = body(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).last_hidden_state[:, -1]
        index = {p: i for i, p in enumerate(distinct)}
        owner = torch.tensor([index[tuple(p)] for p in prompts], device=device)
        return self.value_of(hidden)[owner]

    @torch.no_grad()
    def values(self, prompts: list[list[int]], batch_size: int = 64) -> list[float]:
        """V(s) of every prompt under the current weights (no gradient), `batch_size` distinct
        prompts per forward: the rollout-time values GAE and the clipped value loss start from."""
        distinct = list(dict.fromkeys(tuple(p) for p in prompts))
        if not distinct:
            return []
        out: dict[tuple, float] = {}
        for start in range(0, len(distinct), batch_size):
            chunk = [list(p) for p in distinct[start:start + batch_size]]
            for p, v in zip(distinct[start:start + batch_size], self.prompt_values(chunk).tolist()):
                out[p] = v
        return [out[tuple(p)] for p in prompts]
