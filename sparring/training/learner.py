"""The learner: owns the one trainable model and its optimiser, and applies policy updates.

`update(batches)` runs `epochs` passes; each pass accumulates gradients over all micro-batches
(the loss already divides by whole-batch totals) and takes one AdamW step after grad-norm
clipping. It knows nothing of games or roles: it sees tensors and advantages only.

Precision: weights stored in bfloat16 (the engine generates from these very tensors) are trained
through float32 master copies that the optimizer owns (`MasterWeights`): AdamW steps the masters,
and the bf16 weights are re-rounded from them. Stepping bf16 weights directly would round away
any step below |w| * 2**-8 (at lr 1e-6, nearly every weight), and the run would log losses while
learning nothing. The KL reference exists only when `kl_coef > 0`; with LoRA it is the same model
with its adapters switched off, not a second copy. It stays the starting model unless
`loss.ref_update_every` moves it to the current policy (its weights then go into checkpoints).

With a critic (`critic.Critic`, for turn-level estimators) the learner also trains the value
head, and the separate value model if any, with PPO's clipped value loss beside the policy loss:
one optimizer, the critic's parameters in their own group (own learning rate, own gradient-norm
clip). During `critic.warmup_steps` updates only the critic learns.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import time
from dataclasses import replace

import torch

from sparring.config import CriticConfig, LossConfig, OptimConfig
from sparring.training.batching import MicroBatch
from sparring.training.critic import Critic
from sparring.training.logprobs import shared_prompt_logprobs, token_logprobs
from sparring.training.loss import policy_loss, value_loss


def lr_factor(update: int, *, warmup_steps: int = 0, decay: str = "constant", decay_steps: int = 0,
              min_ratio: float = 0.0) -> float:
    """Learning-rate multiplier after `update` optimizer updates: linear warmup, then constant or a
    linear / cosine decay that reaches `min_ratio` at `decay_steps` (counted from the first update)."""
    if warmup_steps and update < warmup_steps:
        return (update + 1) / warmup_steps
    if decay == "constant" or decay_steps <= 0:
        return 1.0
    progress = min(1.0, update / decay_steps)
    shape = 1.0 - progress if decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_ratio + (1.0 - min_ratio) * shape


class MasterWeights:
    """float32 masters of the trainable parameters that are stored in a lower precision.

    `to_masters()` moves each low-precision gradient onto its master (float32 parameters are their
    own masters); the optimizer steps `params`; `from_masters()` rounds the result back into the
    model's weights. State (the masters) is saved with the optimizer, so a resume continues from
    the exact float32 values rather than from the rounded weights in the checkpoint.
    """

    def __init__(self, params: list[torch.nn.Parameter]) -> None:
        for p in params:
            if p.dtype == torch.float16:
                raise ValueError("trainable float16 weights need loss scaling, which sparring does not do; "
                                 "load the model in bfloat16 or float32")
        self.model_params = params
        self.params = [p if p.dtype == torch.float32 else torch.nn.Parameter(p.detach().float().clone())
                       for p in params]
        self.pairs = [(p, m) for p, m in zip(params, self.params) if m is not p]

    def to_masters(self) -> None:
        """Add each low-precision gradient to its master's float32 gradient and clear it; called after
        every micro-batch, so a minibatch's gradients sum in float32, not in bf16."""
        for p, m in self.pairs:
            if p.grad is None:
                continue
            if m.grad is None:
                m.grad = p.grad.float()
            else:
                m.grad.add_(p.grad)
            p.grad = None

    @torch.no_grad()
    def from_masters(self) -> None:
        for p, m in self.pairs:
            p.copy_(m)

    def state_dict(self) -> list[torch.Tensor]:
        return [m.detach().to("cpu", copy=True) for _, m in self.pairs]

    @torch.no_grad()
    def load_state_dict(self, masters: list[torch.Tensor]) -> None:
        if len(masters) != len(self.pairs):
            raise ValueError(f"checkpoint holds {len(masters)} master tensors, the model has {len(self.pairs)} "
                             "low-precision trainable tensors (was model.dtype or lora changed?)")
        for (_, m), saved in zip(self.pairs, masters):
            m.copy_(saved)
        self.from_masters()


class Learner:
    """`optim` and `loss` are the run's validated config sections; `temperature` is the rollout
    sampling temperature (log-probs are computed under it); `total_steps` is where an lr decay ends;
    `critic` (with its settings `critic_cfg`) is trained beside the policy when given; `reference`
    is the KL reference when it differs from `model` (a resumed run's starting weights)."""

    def __init__(self, model, optim: OptimConfig | None = None, loss: LossConfig | None = None, *,
                 temperature: float = 1.0, total_steps: int = 0, critic: Critic | None = None,
                 critic_cfg: CriticConfig | None = None, reference=None) -> None:
        optim = optim or OptimConfig()
        loss = loss or LossConfig()
        self.model = model
        self.model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters")
        self.critic = critic
        self.critic_cfg = critic_cfg or CriticConfig()
        critic_params = list(critic.parameters()) if critic is not None else []
        self.masters = MasterWeights(params + critic_params)
        groups = [{"params": self.masters.params[:len(params)]}]
        if critic_params:
            groups.append({"params": self.masters.params[len(params):],
                           "lr": self.critic_cfg.learning_rate or optim.learning_rate})
        self.optimizer = torch.optim.AdamW(groups, lr=optim.learning_rate,
                                           weight_decay=optim.weight_decay, betas=tuple(optim.betas))
        self.updates = 0  # finished update() calls: the critic's warm-up counts them
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, functools.partial(lr_factor, warmup_steps=optim.warmup_steps, decay=optim.decay,
                                              decay_steps=total_steps, min_ratio=optim.min_lr_ratio))
        self.grad_clip = optim.grad_clip
        self.chunk_tokens = optim.logprob_chunk_tokens
        self.epochs = optim.epochs
        self.temperature = temperature if temperature > 0 else 1.0
        self.loss_args = dict(clip_low=loss.clip_low, clip_high=loss.clip_high, aggregation=loss.aggregation,
                              kl_coef=loss.kl_coef, entropy_coef=loss.entropy_coef)
        self.tis_cap = loss.tis_cap
        self.ref_model = None
        if loss.kl_coef > 0 and not hasattr(model, "disable_adapter"):  # LoRA: the adapters switched off
            self.ref_model = (reference if reference is not None else copy.deepcopy(model)).eval()
            for p in self.ref_model.parameters():
                p.requires_grad_(False)
        self.ref_update_every = loss.ref_update_every
        self.kl = loss.kl_coef > 0

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _reference(self):
        """(model, context) that give the frozen reference's log-probs."""
        if self.ref_model is not None:
            return self.ref_model, contextlib.nullcontext()
        return self.model, self.model.disable_adapter()

    def update_reference(self) -> None:
        """The KL reference becomes a copy of the current policy (`loss.ref_update_every`)."""
        with torch.no_grad():
            for ref, live in zip(self.ref_model.parameters(), self.model.parameters(), strict=True):
                ref.copy_(live)

    @property
    def frozen(self) -> bool:
        """Base learning rate 0 in every group (a control run): no step can move a weight, so
        update() skips the passes whose gradients would be thrown away. The base rates, not the
        scheduled ones, which a warm-up may start near 0 in a run that does learn."""
        return all(group["initial_lr"] == 0 for group in self.optimizer.param_groups)

    @property
    def critic_warming_up(self) -> bool:
        """Whether this update trains the critic alone (the first critic.warmup_steps updates)."""
        return self.critic is not None and self.updates < self.critic_cfg.warmup_steps

    def update(self, batches: list[MicroBatch]) -> dict[str, float]:
        if not batches:
            return {"loss/skipped": 1.0}
        if self.frozen:  # nothing would move: the rollouts, rewards and buffers are the run's result
            self.updates += 1
            return {"loss/frozen": 1.0}
        t0 = time.perf_counter()
        totals = {"loss/total": 0.0, "loss/pg": 0.0, "loss/kl": 0.0, "loss/entropy": 0.0, "loss/clip_fraction": 0.0, "loss/ratio_mean": 0.0}
        if self.critic is not None:
            totals.update({"critic/value_loss": 0.0, "critic/warmup": float(self.critic_warming_up)})
        grad_norm = 0.0
        tokens = 0
        groups: dict[int, list[MicroBatch]] = {}
        for mb in batches:
            groups.setdefault(mb.minibatch, []).append(mb)
        steps = self.epochs * len(groups)
        groups = {k: [self._behaviour(mb.to(self.device)) for mb in group] for k, group in groups.items()}
        for epoch in range(self.epochs):
            for index, group in enumerate(groups.values()):  # one optimizer step per minibatch
                self.optimizer.zero_grad(set_to_none=True)
                for mb in group:
                    tokens += self._accumulate(mb, steps, totals, on_policy=epoch == 0 and index == 0)
                    self.masters.to_masters()
                policy_params = self.optimizer.param_groups[0]["params"]
                grad_norm = float(torch.nn.utils.clip_grad_norm_(policy_params, self.grad_clip))
                if self.critic is not None:
                    totals["critic/grad_norm"] = float(torch.nn.utils.clip_grad_norm_(
                        self.optimizer.param_groups[1]["params"], self.grad_clip))
                self.optimizer.step()
                self.masters.from_masters()
        self.scheduler.step()
        self.updates += 1
        dt = time.perf_counter() - t0
        mismatch, counted = totals.pop("_mismatch", 0.0), totals.pop("_mismatch_tokens", 0.0)
        if counted:
            totals["perf/logprob_mismatch"] = mismatch / counted
        totals.update({"loss/grad_norm": grad_norm, "loss/lr": self.scheduler.get_last_lr()[0],
                       "perf/update_s": dt, "perf/train_tokens_per_s": tokens / dt if dt > 0 else 0.0})
        return totals

    @torch.no_grad()
    def _behaviour(self, mb: MicroBatch) -> MicroBatch:
        """With `tis_cap`: the micro-batch with the learner's own log-probs before any step as its
        old log-probs, and truncated importance weights min(p_learner / p_engine, cap)."""
        if self.tis_cap is None:
            return mb
        learner, _ = self._logprobs(self.model, mb)
        mask = mb.loss_mask
        weights = torch.exp((learner - mb.old_logprobs) * mask).clamp(max=self.tis_cap) * mask
        return replace(mb, old_logprobs=learner * mask, token_weights=weights, engine_logprobs=mb.old_logprobs)

    def _logprobs(self, model, mb: MicroBatch, with_entropy: bool = False, with_state: bool = False):
        """Log-probs (and entropy) of the micro-batch's targets: each distinct prompt run once when
        rows share prompts (GRPO groups, recurring positions), else the plain chunked path.
        Gradient checkpointing turns the KV cache off, so it takes the plain path. `with_state`:
        also the final hidden state at each row's last prompt token (a shared critic's input)."""
        if mb.prompt_lengths is not None and not getattr(model, "is_gradient_checkpointing", False):
            shared = shared_prompt_logprobs(model, mb.input_ids, mb.attention_mask, mb.prompt_lengths, self.temperature,
                                            with_entropy, mb.loss_mask, self.chunk_tokens, with_state=with_state)
            if shared is not None:
                return shared
        return token_logprobs(model, mb.input_ids, mb.attention_mask, self.temperature, with_entropy=with_entropy,
                              loss_mask=mb.loss_mask, chunk_tokens=self.chunk_tokens,
                              prompt_lengths=mb.prompt_lengths if with_state else None)

    def _critic_loss(self, mb: MicroBatch, state: torch.Tensor | None, warmup: bool) -> torch.Tensor:
        """The value loss of this micro-batch: the shared head on `state` (detached during warm-up,
        so the trunk, which is the policy, stays put), or the separate model over the rows' prompts."""
        if self.critic.shared:
            values = self.critic.value_of(state.detach() if warmup else state)
        else:
            lengths = mb.prompt_lengths.tolist()
            values = self.critic.prompt_values([row[:n] for row, n in zip(mb.input_ids.tolist(), lengths)])
        return value_loss(values, mb.old_values, mb.returns, mb.value_mask, clip=self.critic_cfg.value_clip,
                          total=mb.total_values, counts=mb.counts)

    def _accumulate(self, mb: MicroBatch, steps: int, totals: dict[str, float], on_policy: bool = False) -> int:
        """Backward one micro-batch's share of its minibatch loss; add its terms to `totals`
        (averaged over the `steps` optimizer steps of this update); return its trained tokens.
        `on_policy` (before the first optimizer step): also compare the learner's log-probs of the
        sampled tokens with the engine's (perf/logprob_mismatch, mean absolute difference)."""
        critic = self.critic is not None and mb.returns is not None
        warmup = self.critic_warming_up
        with torch.no_grad() if warmup else contextlib.nullcontext():  # warm-up: the policy does not learn
            logp, entropy, *state = self._logprobs(self.model, mb, with_entropy=True,  # entropy is logged
                                                   with_state=critic and self.critic.shared)
        if on_policy:
            engine = mb.old_logprobs if mb.engine_logprobs is None else mb.engine_logprobs
            totals["_mismatch"] = totals.get("_mismatch", 0.0) + float(((logp.detach() - engine).abs() * mb.loss_mask).sum())
            totals["_mismatch_tokens"] = totals.get("_mismatch_tokens", 0.0) + float(mb.loss_mask.sum())
        ref_logp = None
        if self.kl and not warmup:
            ref_model, context = self._reference()
            with torch.no_grad(), context:
                ref_logp, _ = self._logprobs(ref_model, mb)
        terms = policy_loss(
            logp, mb.old_logprobs, mb.advantages, mb.loss_mask,
            total_tokens=mb.total_tokens, total_sequences=mb.total_sequences,
            ref_logp=ref_logp, entropy=entropy, negative_advantages=mb.negative_advantages, counts=mb.counts,
            token_weights=mb.token_weights, **self.loss_args,
        )
        loss = terms.loss if not warmup else torch.zeros((), device=logp.device)
        if critic:
            v_loss = self._critic_loss(mb, state[0] if state else None, warmup)
            loss = loss + self.critic_cfg.value_coef * v_loss
            totals["critic/value_loss"] += v_loss.item() / steps
        if loss.requires_grad:
            loss.backward()
        tokens = (mb.loss_mask.sum(-1) * (1 if mb.counts is None else mb.counts)).sum().item()
        share = tokens / max(mb.total_tokens, 1) / steps
        totals["loss/total"] += loss.item() / steps
        totals["loss/pg"] += terms.pg / steps
        totals["loss/kl"] += terms.kl / steps
        totals["loss/entropy"] += terms.entropy / steps
        totals["loss/clip_fraction"] += terms.clip_fraction * share
        totals["loss/ratio_mean"] += terms.ratio_mean * share
        return int(tokens)

    def state_dict(self) -> dict:
        out = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
               "masters": self.masters.state_dict(), "updates": self.updates}
        if self.critic is not None:
            out["critic"] = self.critic.state_dict_cpu()
        if self.ref_update_every:  # a moved reference is in no file on disk
            out["reference"] = {k: v.detach().cpu().clone() for k, v in self.ref_model.state_dict().items()}
        return out

    def load_state_dict(self, d: dict) -> None:
        if self.critic is None and "critic" in d:
            raise ValueError("the checkpoint was written with a critic (a turn-level estimator such as gae), but "
                             "this run has none: resume with the same advantages settings, or start a new run")
        if self.critic is not None:
            if "critic" not in d:
                raise ValueError("the checkpoint holds no critic, but this run trains one (a turn-level "
                                 "estimator such as gae was switched on after the checkpoint was written)")
            self.critic.load_state_dict_cpu(d["critic"])
        if self.ref_update_every:
            if "reference" not in d:
                raise ValueError("loss.ref_update_every is set, but the checkpoint holds no reference weights (it "
                                 "was written without reference updates): resume with the same loss settings")
            self.ref_model.load_state_dict(d["reference"])
        self.optimizer.load_state_dict(d["optimizer"])
        self.scheduler.load_state_dict(d["scheduler"])
        self.updates = int(d.get("updates", self.scheduler.last_epoch))
        if d.get("masters"):  # absent in float32 runs and in checkpoints from before master weights
            self.masters.load_state_dict(d["masters"])
