"""Experiment configuration: one pydantic model per component, composed into `ExperimentConfig`.

Configs come from YAML (outside data), so they are validated strictly: unknown keys and
ill-typed values raise `ConfigError` with one message that names every offending key path and
the file. `--set a.b=value` overrides are parsed as YAML scalars and applied before validation.

Open sets are registries, not Literals: `arenas[].kind` is validated against the registered arena
kinds (each kind owns its config model, a subclass of `ArenaConfig`), `advantages.estimator`
against the registered estimators and `engine.backend` against the registered engines. A
config's `imports:` are imported before validation, so a user's kinds validate like built-in ones.
Keys renamed by a redesign fail with a message that names the new key (`RENAMED`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError


class ConfigError(ValueError):
    """A config file or override that does not validate; the message names the keys."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


def _existing(path: str | None) -> str | None:
    """A local file or folder the run will read must be there when the config is read, so that a
    typo is an error naming its key, not a traceback from deep in the run."""
    if path is not None and not Path(path).expanduser().exists():
        raise ValueError(f"no such file or directory: {path}")
    return path


def missing_model_dir(name: str) -> bool:
    """A model name written as a path (/, ., ~) that is no directory; 'tiny' and hub ids are not."""
    return name.startswith(("/", ".", "~")) and not Path(name).expanduser().is_dir()


def _local_model(name: str) -> str:
    if missing_model_dir(name):
        raise ValueError(f"no such model directory: {name}")
    return name


LocalPath = Annotated[str | None, AfterValidator(_existing)]
"""A config field naming a local file or folder (checked to exist)."""


class RunConfig(_Strict):
    name: str = "run"
    """Run name, used in logs."""
    output_dir: str = "runs/run"
    """Where checkpoints, metrics.jsonl and the warm-started model go; an existing run resumes."""
    seed: int = Field(0, ge=0, lt=2**32)
    """Seed for torch, numpy, python and episode seeds (numpy takes 0 to 2**32 - 1)."""
    steps: int = Field(100, ge=0)
    """Number of RL steps (rollout -> advantages -> update)."""
    threads: int = Field(0, ge=0)
    """torch intra-op threads; 0 keeps torch's default."""


class TinyModelConfig(_Strict):
    vocab_size: int = 1024
    """Upper bound of the BPE vocabulary trained on game transcripts."""
    hidden_size: int = 160
    """Width of the tiny Qwen3 model."""
    num_layers: int = 4
    """Transformer blocks."""
    num_heads: int = 4
    """Attention heads."""
    num_kv_heads: int = 2
    """Key/value heads (grouped-query attention)."""
    intermediate_size: int = 480
    """MLP width."""
    seed: int = 0
    """Weight-initialisation seed; part of the cache key."""
    split_digits: bool = False
    """Tokenize every digit on its own, as Qwen's tokenizers do (the default BPE learns merged
    numbers such as " 45"). Set it for arithmetic and code tasks: a number that is one token shows
    the model no digits, so what it learns about one number carries over to no other."""


class LoraConfig(_Strict):
    r: int = 8
    """LoRA rank."""
    lora_alpha: int = 16
    """LoRA scaling numerator."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA path."""
    target_modules: list[str] | str = "all-linear"
    """Modules to adapt (PEFT syntax)."""


class ModelConfig(_Strict):
    name: Annotated[str, AfterValidator(_local_model)] = "tiny"
    """'tiny' (built locally, offline), a local HF model directory, or a hub id."""
    tiny: TinyModelConfig = TinyModelConfig()
    """Shape of the tiny model when name == 'tiny'."""
    device: str = "auto"
    """Where the engine, learner, reference model and every tensor live: auto (cuda when a GPU is
    visible, else cpu), cpu, cuda or cuda:N. Sandboxes and game rules always run on the CPU."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Dtype the model's weights are stored and computed in (engine and learner share them). With
    bfloat16 the optimizer keeps float32 master weights and state, so small steps (lr 1e-6) are not
    rounded away; bfloat16 halves weight memory and is the usual choice on a GPU. float16 is refused:
    it needs loss scaling, which sparring does not do."""
    gradient_checkpointing: bool = False
    """Recompute each layer's activations in the backward pass instead of keeping them: about a
    third more learner compute for far less activation memory; turn on when long sequences or large
    micro-batches run out of GPU memory."""
    lora: LoraConfig | None = None
    """Train LoRA adapters (PEFT) instead of all weights; null trains everything."""

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", value):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {value!r}")
        return value

    @field_validator("dtype")
    @classmethod
    def _no_unscaled_fp16(cls, value: str) -> str:
        if value == "float16":
            raise ValueError("float16 training needs loss scaling (its 5 exponent bits underflow small "
                             "gradients to zero, so updates silently vanish), which sparring does not do; "
                             "use bfloat16 (GPUs since Ampere) or float32")
        return value


def _known_backend(name: str) -> str:
    from sparring.agents.engines import engine_backends

    if name not in engine_backends():
        raise ValueError(f"unknown engine backend {name!r}; registered: {engine_backends()} "
                         "(a backend from your own package needs `imports: [your_module]`)")
    return name


def _known_estimator(name: str) -> str:
    from sparring.training.advantages import estimator_names

    if name not in estimator_names():
        raise ValueError(f"unknown advantage estimator {name!r}; registered: {estimator_names()} "
                         "(an estimator from your own package needs `imports: [your_module]`)")
    return name


EstimatorName = Annotated[str, AfterValidator(_known_estimator)]


class EngineConfig(_Strict):
    backend: Annotated[str, AfterValidator(_known_backend)] = "hf"
    """Inference backend for rollouts, from the engine registry ('hf': transformers generate behind
    an async batcher; a user backend registers with sparring.agents.engines.register_engine)."""
    max_batch_size: int = Field(256, ge=1)
    """Most sequences per generate call (with a real model, the KV cache of this many sequences
    at full length must fit beside the learner)."""
    stop_tokens: list[str] = []
    """Tokens that also end a turn, besides the tokenizer's end-of-sequence token: a base model
    prompted with chat markup as plain text ends its turn with <|im_end|>, which its tokenizer
    does not call EOS."""
    seeded_sampling: bool = False
    """Sample every request of an episode from its own generator seeded by the episode's seed
    (sparring/agents/request_seeds.py), so an episode's tokens do not depend on what shares its
    batch, on max_batch_size, or on which cluster worker plays it. On for runs that must reproduce
    across cluster layouts (the cluster equals the single process bit for bit only with it).
    Backends hf and vllm."""
    options: dict[str, Any] = {}
    """Backend-specific settings, validated by the backend's own options model (if it has one)."""

    @model_validator(mode="after")
    def _options_of_the_backend(self):
        from sparring.agents.engines import check_engine_options

        check_engine_options(self.backend, self.options)
        if self.seeded_sampling and self.backend not in ("hf", "vllm"):
            raise ValueError(f"engine.seeded_sampling: backend {self.backend!r} cannot seed single requests "
                             "(hf and vllm can)")
        return self


class SamplingConfig(_Strict):
    max_new_tokens: int = Field(8, ge=1)
    """Completion length cap for a turn."""
    temperature: float = Field(1.0, ge=0.0)
    """Rollout sampling temperature (the learner's log-probs use the same)."""
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    """Nucleus sampling mass."""
    overlong: Literal["invalid", "mask"] = "invalid"
    """What training does with a completion cut off at max_new_tokens (no end-of-turn token). It
    never yields an action either way: the game's invalid-action rule (or the Absolute Zero
    format penalty) applies to the episode. invalid: the cut-off turn is trained like any invalid
    answer, with that penalty (teaches the model to finish). mask: the cut-off turn is kept out of
    the loss (DAPO's overlong filtering), for reasoning models whose long but sound thoughts should
    not be punished for the cap; its reward still counts in the estimator's baselines and the
    player's other turns keep the episode's outcome. Masked turns: rollout/overlong_masked_rate."""


INVALID_ACTION_PRESETS: dict[str, dict[str, float | int]] = {
    # SPIRAL (Liu et al. 2025): an invalid move loses the game at -1.5, the other player(s) get +0.5.
    "spiral": {"penalty": -1.5, "opponent_reward": 0.5, "retries": 0, "retry_penalty": -1.5},
}


class InvalidActionConfig(_Strict):
    preset: Literal["spiral"] | None = None
    """A published rule by name instead of the values below: spiral (SPIRAL, Liu et al. 2025): the
    offender gets -1.5, every other player +0.5, no retries. Combined with explicit penalty,
    opponent_reward, retries or retry_penalty values that differ from it: an error."""
    penalty: float = -1.0
    """Reward of a player who forfeits by an unparseable or illegal answer."""
    opponent_reward: float = 0.0
    """Reward of every other player when someone forfeits."""
    retries: int = Field(0, ge=0)
    """Extra attempts per turn before forfeiting."""
    retry_penalty: float | None = None
    """Reward of each failed attempt that was retried (trained as its own sample); null: `penalty`.
    Keep it below the worst legal outcome: a seat that expects to lose anyway otherwise pays nothing
    for invalid attempts, and RL drifts its mass onto them (seen in TicTacToe self-play at -1)."""

    @model_validator(mode="after")
    def _preset_then_retry_default(self):
        if self.preset is not None:
            values = INVALID_ACTION_PRESETS[self.preset]
            clash = [k for k in values if k in self.model_fields_set and getattr(self, k) != values[k]]
            if clash:
                raise ValueError(f"preset {self.preset!r} sets {', '.join(f'{k}={values[k]}' for k in values)}; "
                                 f"it cannot be combined with explicit {', '.join(f'{k}={getattr(self, k)}' for k in clash)} "
                                 "(drop the preset or those keys)")
            for key, value in values.items():
                if getattr(self, key) != value:
                    setattr(self, key, value)
        if self.retry_penalty is None:
            self.retry_penalty = self.penalty
        return self


class PoolConfig(_Strict):
    size: int = Field(8, ge=1)
    """Past snapshots kept; the oldest is evicted first."""
    snapshot_every: int = Field(5, ge=1)
    """Add the current model to the pool every N steps (the initial model is always in it)."""
    active: int = Field(2, ge=1)
    """Snapshots loaded (one frozen engine each) per step; episodes are spread over them."""


class EndpointConfig(_Strict):
    base_url: str
    """OpenAI-compatible API root, e.g. http://localhost:8000/v1."""
    model: str
    """Model name sent in the request."""
    api_key_env: str | None = "OPENAI_API_KEY"
    """Environment variable holding the API key (null: no key)."""
    temperature: float = Field(0.0, ge=0.0)
    """Sampling temperature of the endpoint."""
    max_tokens: int = Field(64, ge=1)
    """Completion cap per move."""
    timeout_s: float = Field(60.0, gt=0)
    """Per-request timeout."""


OpponentKind = Literal["self", "random", "minimax", "kuhn_equilibrium", "checkpoint", "pool", "openai"]


class OpponentConfig(_Strict):
    kind: OpponentKind = "self"
    """'self': the shared model plays every seat; 'random': uniform legal moves; 'minimax': perfect play
    (small perfect-information games, e.g. tictactoe); 'kuhn_equilibrium': a Nash strategy for Kuhn Poker;
    'checkpoint': a frozen model at `path`; 'pool': earlier snapshots of the learner (fictitious self-play);
    'openai': any OpenAI-compatible chat endpoint."""
    path: LocalPath = None
    """Model directory for kind == 'checkpoint'."""
    pool: PoolConfig = PoolConfig()
    """Pool settings for kind == 'pool'."""
    endpoint: EndpointConfig | None = None
    """Endpoint for kind == 'openai'."""
    random_move_rate: float = Field(0.0, ge=0.0, le=1.0)
    """Chance that a scripted opponent ('minimax', 'kuhn_equilibrium') plays a uniformly random
    legal move instead of its own: an expert of graded strength. Use it when a perfect player
    leaves the learner nothing to win and too narrow a set of positions to learn from (minimax
    plays few lines); 0 is the expert itself, 1 is 'random'. To switch a config that sets it to
    another kind, replace the whole opponent (`--set "arenas.0.opponent={kind: self}"`)."""

    @model_validator(mode="after")
    def _random_moves_for_scripted_experts(self):
        if self.random_move_rate and self.kind not in ("minimax", "kuhn_equilibrium"):
            raise ValueError(f"opponent.random_move_rate applies to kind 'minimax' or 'kuhn_equilibrium', "
                             f"not {self.kind!r}")
        return self


class ArenaConfig(_Strict):
    """Fields every arena kind has; each kind's config model (registered with its Arena class)
    subclasses this and sets `kind`'s default to its kind name."""

    kind: str = "game"
    """Arena kind, from the arena registry ('game', 'absolute_zero', or a user's kind)."""
    name: str
    """Arena name, used in metric keys and advantage keys (arena, role)."""
    episodes_per_step: int = Field(64, ge=1)
    """Episodes collected from this arena every step."""


def _relocated(err: dict, index: int) -> InitErrorDetails:
    """One error of an arena's own model, located under its list index (a custom error type of a
    user's model, which pydantic cannot rebuild by name, keeps its message)."""
    detail = InitErrorDetails(type=err["type"], loc=(index, *err["loc"]), input=err.get("input"))
    if "ctx" in err:
        detail["ctx"] = err["ctx"]
    try:
        ValidationError.from_exception_data("probe", [detail])
    except KeyError:
        message = err["msg"].replace("{", "{{").replace("}", "}}")
        detail = InitErrorDetails(type=PydanticCustomError(err["type"], message), loc=(index, *err["loc"]),
                                  input=err.get("input"))
    return detail


def _validate_arenas(value: Any) -> list[ArenaConfig]:
    """Each entry validated by the config model of its kind; errors keep their list index."""
    from sparring.arenas.base import arena_class, arena_kinds

    if not isinstance(value, list):
        return value  # pydantic's own list check reports it
    out, errors = [], []
    for i, item in enumerate(value):
        if isinstance(item, ArenaConfig):
            out.append(item)
            continue
        kind = item.get("kind", "game") if isinstance(item, dict) else None
        if not isinstance(kind, str):
            errors.append(InitErrorDetails(type=PydanticCustomError(
                "arena_entry", "an arena must be a mapping with a string `kind`"), loc=(i,), input=item))
            continue
        try:
            model = arena_class(kind).config_model
        except KeyError:
            errors.append(InitErrorDetails(type=PydanticCustomError(
                "unknown_arena_kind", "unknown arena kind '{kind}'; registered kinds: {known} (a kind from your "
                "own package needs `imports: [your_module]`)", {"kind": kind, "known": ", ".join(arena_kinds())}),
                loc=(i, "kind"), input=kind))
            continue
        try:
            out.append(model.model_validate(item))
        except ValidationError as e:
            errors += [_relocated(err, i) for err in e.errors()]
    if errors:
        raise ValidationError.from_exception_data("arenas", errors)
    return out


class SearchLabelConfig(_Strict):
    """Monte-Carlo search labels for the warm start: supervised learning from search (expert
    iteration), not a format warm start and not RL; report what it reaches on its own line."""

    rollouts: int = Field(0, ge=0)
    """Score each visited position's moves by this many random continuations after each move
    (0: by the random games that passed through the position)."""
    games: int = Field(0, ge=0)
    """With rollouts 0, how many random games per arena score the moves (0: four per example)."""
    unique: bool = False
    """One row per distinct position visited (`examples` then counts visits), so the rare deep
    positions weigh as much as the openings random play keeps revisiting."""
    play: Literal["random", "best"] = "random"
    """Who plays the games that choose the positions: random (every seat uniformly random) or
    best (needs rollouts; one seat per game, in turn, plays the best-scored move, the others
    random): the positions a player who has learned the labels meets."""

    @model_validator(mode="after")
    def _best_play_needs_rollouts(self):
        if self.play == "best" and not self.rollouts:
            raise ValueError("play=best needs rollouts > 0 (the moves it plays are scored by them)")
        return self


class WarmStartConfig(_Strict):
    enabled: bool = False
    """Run a supervised warm start (TRL SFTTrainer) before RL, on rows the arenas supply."""
    examples: int = Field(3000, ge=1)
    """SFT rows in all, split evenly over the arenas (game arenas: turns of random legal play)."""
    epochs: float = Field(2.0, gt=0)
    """SFT epochs."""
    learning_rate: float = Field(1e-3, gt=0)
    """SFT learning rate."""
    batch_size: int = Field(32, ge=1)
    """SFT per-device batch size."""
    keep: Literal["all", "winners"] = "all"
    """Game arenas: which random-play moves become targets: all (the answer format only) or
    winners (only those of the player who went on to win that random game: an outcome filter,
    no scripted strategy)."""
    search: SearchLabelConfig | None = None
    """Game arenas: label each position with the move Monte-Carlo search scored best instead
    (supervised learning from search, see SearchLabelConfig); null: no search."""

    @model_validator(mode="after")
    def _one_kind_of_label(self):
        if self.search is not None and self.keep != "all":
            raise ValueError(f"keep={self.keep!r} and search labels exclude each other (search labels every move)")
        return self


class AveragePolicyConfig(_Strict):
    """NFSP's average policy (sparring/training/average_policy.py): for two-player zero-sum games
    whose self-play keeps circling the equilibrium instead of reaching it (Kuhn Poker, Leduc, Liar's
    Dice: a falling-then-rising exploitability curve), keep a uniform sample of the RL policy's own
    answers over the run and, at the end, fit a copy of the model to it (<run dir>/average). RL
    trains and plays exactly as without it; the average is a second output, evaluated beside the
    last iterate (`average/` metrics)."""

    enabled: bool = False
    """Keep the reservoir and distill the average at the end of the run."""
    start_step: int = Field(0, ge=0)
    """Answers from this step on enter the average; the first iterates, far from equilibrium, would
    weigh on it for the rest of the run (fictitious play forgets its start only as 1/t)."""
    capacity: int = Field(16384, ge=1)
    """Answers kept (reservoir sampling: a uniform sample of every valid trained answer seen)."""
    epochs: float = Field(2.0, gt=0)
    """Passes over the reservoir when the average is fitted."""
    learning_rate: float = Field(1e-3, gt=0)
    """AdamW learning rate of the fit (cosine to zero)."""
    batch_size: int = Field(64, ge=1)
    """Answers per update of the fit."""


class AdvantageConfig(_Strict):
    """Sequence-level advantages: one estimator per role, from the estimator registry."""

    estimator: EstimatorName = "rae"
    """Default estimator for every role: rae, grpo, dr_grpo, maxrl, trr_plus_plus, reinforce_pp,
    reinforce, gae, or one registered with sparring.training.advantages.register_estimator."""
    per_role: dict[str, EstimatorName] = {}
    """Estimator overrides by role name."""
    rae_alpha: float = Field(0.95, ge=0.0, le=1.0)
    """RAE baseline EMA decay."""
    options: dict[str, dict[str, Any]] = {}
    """Constructor arguments of stateful (class) estimators, by estimator name, e.g. a user's EMA
    estimator's decay; RAE takes rae_alpha."""

    @model_validator(mode="after")
    def _options_of_known_estimators(self):
        from sparring.training.advantages import estimator_is_stateful, estimator_names

        known = estimator_names()
        for name in self.options:
            if name not in known:
                raise ValueError(f"options.{name}: no estimator {name!r} is registered; registered: {known}")
            if not estimator_is_stateful(name):
                raise ValueError(f"options.{name}: {name!r} is a function estimator and takes no options")
        if "rae" in self.options:
            raise ValueError("options.rae: RAE's only option is its decay, set it with rae_alpha")
        return self

    def used(self) -> set[str]:
        """The estimators some role uses: the default and the per-role overrides."""
        return {self.estimator, *self.per_role.values()}


class CreditConfig(_Strict):
    """Turn-level credit: how a trajectory's advantage becomes one per turn. Orthogonal to the
    sequence-level estimator: it applies to every role whatever estimator gave the advantage,
    except roles under a turn-level estimator (gae), which credits each turn itself."""

    gamma: float = Field(1.0, ge=0.0, le=1.0)
    """A turn k turns before the player's last gets gamma**k of its advantage."""
    baseline: Literal["sequence", "state"] = "sequence"
    """sequence: every turn of a trajectory gets the estimator's advantage, less the per-turn
    rewards earned before that turn (if the arena gives any: a turn is credited with what follows
    it); state: per turn, the return is compared with the mean return seen from the same prompt,
    shrunk towards the estimator's own baseline where the prompt is rare (a tabular critic for
    small games whose positions recur). The state baseline works in reward units: with rae,
    dr_grpo, reinforce or a user's estimator, not with the std-normalising grpo, trr_plus_plus and
    reinforce_pp (refused)."""
    state_decay: float = Field(0.8, ge=0.0, lt=1.0)
    """With baseline "state": how much of a state's return history each RL step keeps."""
    return_discount: float = Field(1.0, gt=0.0, le=1.0)
    """With baseline "state": a turn k own turns before the player's last is credited with
    return_discount**k of the final reward, so winning sooner and losing later pay."""

    @model_validator(mode="after")
    def _discount_needs_state_baseline(self):
        if self.return_discount != 1.0 and self.baseline != "state":
            raise ValueError(f"return_discount={self.return_discount} only applies with baseline: state "
                             f"(baseline is {self.baseline!r})")
        return self


class CriticConfig(_Strict):
    """The learned value function used by turn-level estimators (`gae`); built only when some role
    uses one. A value head reads the final hidden state at the end of each turn's prompt."""

    model: Literal["shared", "separate"] = "shared"
    """shared: the head sits on the policy model, whose trunk the value loss also trains (one model
    in memory, one forward; the value task can help or disturb the policy); separate: a second copy
    of the starting model carries the head (Open-Reasoner-Zero; the policy never feels the value
    loss, but every weight of the copy is trained, with float32 masters and AdamW state even when
    the policy uses LoRA, and a second forward runs over the prompts)."""
    value_coef: float = Field(0.5, gt=0.0)
    """Weight of the value loss beside the policy loss; with a shared trunk, how hard the value task
    pulls on the policy's weights."""
    value_clip: float | None = Field(0.2, gt=0.0)
    """PPO's value clipping: a value moves at most this far from its rollout-time estimate per
    update (in reward units; null: the plain squared error). Loosen it when returns span far more
    than a few units."""
    learning_rate: float | None = Field(None, gt=0.0)
    """Learning rate of the head (and the separate model); null: optim.learning_rate. A fresh head
    on a pretrained trunk often wants more than the policy's small rate."""
    warmup_steps: int = Field(0, ge=0)
    """The first N updates train the critic alone (the policy stays as it is, a shared trunk too):
    advantages from an untrained critic are the raw returns, so a warm-up lets V catch up first.
    The learning-rate schedule (optim.warmup_steps, decay) counts these updates too."""


class LossConfig(_Strict):
    clip_low: float = Field(0.2, ge=0.0)
    """PPO ratio clip below 1."""
    clip_high: float = Field(0.28, ge=0.0)
    """PPO ratio clip above 1 (clip-higher)."""
    aggregation: Literal["token_mean", "sequence_mean"] = "token_mean"
    """How token losses become one number."""
    kl_coef: float = Field(0.0, ge=0.0)
    """Weight of the k3 KL to the reference model, the starting weights (after the warm start)
    unless ref_update_every moves it (0: no reference model kept)."""
    ref_update_every: int = Field(0, ge=0)
    """Every N steps the KL reference becomes a copy of the current policy (0: it stays the starting
    model). A fixed reference pulls training towards a regularised optimum around the start: in a
    zero-sum game a quantal-response equilibrium, the further from Nash the larger kl_coef (Kuhn
    Poker, uniform reference: 0.40 exploitable at weight 1.5, 0.10 at 0.1;
    benchmarks/kuhn_regularised_equilibrium.py). Moving it keeps each stretch of N steps near the
    last reference while the run can converge to the game's own equilibrium (magnetic mirror
    descent with magnet updates; TRL's sync_ref_model). Use it when a strong KL is needed for
    stability but its fixed point is not the target. Full fine-tuning only; the reference's
    weights go into every checkpoint."""
    entropy_coef: float = Field(0.0, ge=0.0)
    """Entropy bonus weight."""
    tis_cap: float | None = Field(None, ge=1.0)
    """Truncated importance sampling (as in Oat and verl): when the engine's log-probs differ from
    the learner's (vLLM kernels, bf16; see perf/logprob_mismatch), take the PPO ratio against the
    learner's own log-probs before the update and weight each token by min(p_learner / p_engine,
    tis_cap), correcting for sampling from a slightly different policy. null: off (the ratio is
    taken against the engine's log-probs, exact when both compute the same numbers)."""


class OptimConfig(_Strict):
    learning_rate: float = Field(1e-4, ge=0)
    """AdamW learning rate; 0 leaves the weights as they are: a control run on the same budget
    (same rollouts, same steps) to measure what the updates themselves bring. At 0 (and no critic
    that learns) the learner skips its forward and backward passes, which could move nothing."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    grad_clip: float = Field(1.0, gt=0)
    """Max global gradient norm."""
    micro_batch_size: int = Field(64, ge=1)
    """Sequences per forward/backward (gradient accumulation over the batch)."""
    logprob_chunk_tokens: int = Field(512, ge=1)
    """Completion tokens whose vocabulary logits are materialised at once when the learner computes
    log-probs and entropy (recomputed chunk by chunk in the backward pass). Peak memory of that step
    is about chunk x vocabulary x 4 bytes x a few; lower it if the update runs out of memory with a
    large vocabulary, raise it for a little speed when memory is plentiful."""
    epochs: int = Field(1, ge=1)
    """Passes over each step's samples (ratios leave 1 after the first)."""
    minibatches: int = Field(1, ge=1)
    """Optimizer steps per epoch: the step's samples are dealt at random into this many minibatches
    (PPO-style); later minibatches are off-policy by the earlier updates, which the ratio clip bounds."""
    warmup_steps: int = Field(0, ge=0)
    """Linear learning-rate warmup."""
    decay: Literal["constant", "linear", "cosine"] = "constant"
    """Learning-rate decay over the run (one scheduler step per RL step; ends at run.steps)."""
    min_lr_ratio: float = Field(0.0, ge=0.0, le=1.0)
    """Where a linear / cosine decay ends, as a fraction of learning_rate."""


class EvalConfig(_Strict):
    every: int = Field(0, ge=0)
    """Evaluate against the random policy every N steps (0: never during training)."""
    episodes: int = Field(200, ge=1)
    """Evaluation games per seat."""
    temperature: float = Field(0.0, ge=0.0)
    """Decoding temperature at evaluation (0: greedy)."""
    at_start: bool = False
    """Also evaluate before the first step."""
    exploitability: bool = False
    """Also log each game arena's exploitability (`eval/<arena>/exploitability`, NashConv and each
    seat's best-response value), computed exactly with OpenSpiel at the roles' sampling
    temperature: set it for small zero-sum games with an OpenSpiel twin (kuhn_poker, openspiel:*
    games such as leduc_poker) to see how far self-play is from an equilibrium; needs open_spiel."""


class MetricsConfig(_Strict):
    backends: list[Literal["tensorboard", "wandb"]] = []
    """Where every scalar goes besides metrics.jsonl (always written): tensorboard (event files in
    <run dir>/tensorboard; the `tensorboard` extra) and/or wandb (the `wandb` extra). A backend
    that fails is a warning, never a lost run."""
    wandb_project: str = "sparring"
    """W&B project name."""
    samples_per_step: int = Field(4, ge=0)
    """Episodes per arena saved each step, every turn as text with its reward and advantage, to
    <run dir>/samples.jsonl for `sparring report`; 0: none."""
    wandb_mode: Literal["offline", "online"] = "offline"
    """offline: the W&B run is written to <run dir>/wandb with no account or network (sync later
    with `wandb sync`); online: streamed to the W&B server (needs a login)."""


class CheckpointConfig(_Strict):
    every: int = Field(10, ge=1)
    """Save every N steps (and at the end)."""
    keep: int = Field(2, ge=1)
    """Checkpoints kept on disk."""


class ClusterConfig(_Strict):
    """Where rollouts run when one process is outgrown (docs/cluster.md). The learner stays in the
    driver process (the `sparring train` process: put it where the learner's GPU is); rollout
    workers are Ray actors, each with its own engine and copy of the model."""

    address: str | None = None
    """Ray cluster to join: 'auto' (a cluster started with `ray start --head`), 'ray://host:10001'
    (Ray client), or null to start a Ray instance inside this process (one machine)."""
    local_cpus: int | None = Field(None, ge=1)
    """CPUs of the Ray instance started when `address` is null (null: every core)."""
    rollout_workers: int = Field(2, ge=1)
    """Rollout worker actors; each step's episode seeds are split evenly over them."""
    worker_cpus: float = Field(1.0, gt=0)
    """CPUs Ray reserves for each rollout worker."""
    worker_gpus: float = Field(0.0, ge=0)
    """GPUs Ray reserves for each rollout worker (a fraction shares a GPU between workers)."""
    worker_threads: int = Field(1, ge=1)
    """torch threads in each worker: one per reserved CPU keeps workers from fighting for cores."""
    sandbox_workers: int = Field(0, ge=0)
    """Ray actors that execute arenas' code (Absolute Zero validation), each with its own local
    sandbox pool; 0: every process runs code in its own local sandbox."""
    sandbox_cpus: float = Field(1.0, gt=0)
    """CPUs Ray reserves for each sandbox actor (its pool runs that many programs at once)."""
    play_timeout_s: float | None = Field(None, gt=0)
    """Seconds a worker may take over its share of a step before it is killed and replaced like a
    dead one, its seeds played again (a hung engine or sandbox); null waits for ever. Set it well
    above the slowest step's perf/worker_play_s_max."""
    max_worker_restarts: int = Field(3, ge=0)
    """A rollout worker that dies is replaced and its seeds are played again; one that dies more
    than this many times in a row stops the run with the cause."""
    async_rollouts: bool = False
    """One-step off-policy: the next step's episodes are played (with the weights before this
    update) while the learner updates, so episodes are at most one update stale
    (rollout/staleness_max). Hides rollout time behind the update; off for on-policy runs."""
    weight_sync: Literal["object_store", "collective"] = "object_store"
    """How weights reach the workers after an update. object_store: one ray.put every worker reads
    (works anywhere Ray does). collective: a torch.distributed group of the driver and the
    workers, broadcast into the workers' tensors (NCCL when both sides hold GPUs, else gloo); the
    workers must reach the driver's address on a free TCP port. Not with async_rollouts (a
    broadcast waits for workers that are still playing)."""

    @model_validator(mode="after")
    def _collective_is_synchronous(self):
        if self.weight_sync == "collective" and self.async_rollouts:
            raise ValueError("cluster.weight_sync: collective cannot be combined with async_rollouts (the broadcast "
                             "would wait for workers still playing the next step); use object_store")
        if self.weight_sync == "collective" and self.worker_gpus % 1:
            raise ValueError(f"cluster.weight_sync: collective needs whole GPUs per worker (NCCL takes one rank per "
                             f"GPU), got worker_gpus={self.worker_gpus}; use object_store")
        return self


class ExperimentConfig(_Strict):
    run: RunConfig = RunConfig()
    """Name, output dir, seed, number of steps."""
    model: ModelConfig = ModelConfig()
    """The one shared model."""
    engine: EngineConfig = EngineConfig()
    """Rollout inference engine."""
    sampling: SamplingConfig = SamplingConfig()
    """Rollout sampling settings for every role."""
    imports: list[str] = []
    """Python modules imported before the rest of the config is validated: a user's games, arena
    kinds, estimators and engines (modules beside the config file or on sys.path)."""
    arenas: list[SerializeAsAny[ArenaConfig]] = Field(min_length=1)
    """Arenas sampled every step (at least one); each entry is validated by the config model of its `kind`."""
    warm_start: WarmStartConfig = WarmStartConfig()
    """Supervised warm start."""
    average_policy: AveragePolicyConfig = AveragePolicyConfig()
    """Self-play's average policy (NFSP), fitted at the end of the run beside the last iterate."""
    advantages: AdvantageConfig = AdvantageConfig()
    """Role-conditioned, sequence-level advantage estimation."""
    credit: CreditConfig = CreditConfig()
    """Turn-level credit (discount, per-turn rewards, state baseline)."""
    critic: CriticConfig = CriticConfig()
    """The learned critic (value head) for turn-level estimators such as gae."""
    loss: LossConfig = LossConfig()
    """Policy-gradient loss."""
    optim: OptimConfig = OptimConfig()
    """Optimiser and batching."""
    eval: EvalConfig = EvalConfig()
    """Periodic evaluation against the uniform-random policy."""
    checkpoint: CheckpointConfig = CheckpointConfig()
    """Checkpointing."""
    metrics: MetricsConfig = MetricsConfig()
    """Metric backends beside metrics.jsonl."""
    cluster: ClusterConfig | None = None
    """Rollout workers on a Ray cluster; null (the default): everything in this one process."""

    @field_validator("arenas", mode="before")
    @classmethod
    def _arenas_by_kind(cls, value):
        return _validate_arenas(value)

    @model_validator(mode="after")
    def _runs_on_rollout_workers(self):
        if self.cluster is None:
            return self
        if self.cluster.weight_sync == "collective" and self.engine.backend == "vllm":
            raise ValueError("cluster.weight_sync: collective with engine.backend vllm: vLLM runs in the worker's "
                             "process and holds its default torch.distributed group; use object_store")
        pools = [a.name for a in self.arenas if a.model_dump().get("opponent", {}).get("kind") == "pool"]
        if pools:
            raise ValueError(f"cluster: arenas {pools} play against an opponent pool, whose snapshots are files on "
                             "the driver's disk that rollout workers do not have; not supported with cluster: yet")
        return self

    @model_validator(mode="after")
    def _average_starts_within_the_run(self):
        if self.average_policy.enabled and self.average_policy.start_step >= self.run.steps:
            raise ValueError(f"average_policy.start_step ({self.average_policy.start_step}) must be below run.steps "
                             f"({self.run.steps}): no answer would enter the average")
        return self

    @model_validator(mode="after")
    def _reference_updates_need_a_reference(self):
        if self.loss.ref_update_every and not self.loss.kl_coef:
            raise ValueError("loss.ref_update_every is set but loss.kl_coef is 0: there is no KL reference to move")
        if self.loss.ref_update_every and self.model.lora is not None:
            raise ValueError("loss.ref_update_every with model.lora: the LoRA reference is the base model with the "
                             "adapters switched off and cannot move; use full fine-tuning or ref_update_every: 0")
        return self

    @model_validator(mode="after")
    def _state_baseline_in_reward_units(self):
        from sparring.training.advantages import NORMALISING

        if self.credit.baseline == "state":
            bad = sorted(self.advantages.used() & set(NORMALISING))
            if bad:
                raise ValueError(f"credit.baseline: state compares returns in reward units, but {bad} divide "
                                 "advantages by a standard deviation or mean (a rare state would keep the normalised "
                                 "advantage, a recurring one a raw return difference); use rae, dr_grpo or "
                                 "reinforce for those roles, or credit.baseline: sequence")
        return self

    @model_validator(mode="after")
    def _critic_needs_a_turn_level_estimator(self):
        changed = _changed(self.critic)
        if changed and not self.uses_critic():  # defaults written out (a dumped config) are fine
            raise ValueError(f"critic: {changed} set, but no role uses a turn-level estimator "
                             "(advantages.estimator / per_role: gae), so no critic is built")
        return self

    @model_validator(mode="after")
    def _credit_unused_under_gae(self):
        from sparring.training.advantages import estimator_is_turn_level

        names = self.advantages.used()
        changed = _changed(self.credit)
        if changed and all(estimator_is_turn_level(n) for n in names):
            raise ValueError(f"credit: {changed} set, but every role uses a turn-level estimator ({sorted(names)}), "
                             "which credits each turn itself (set gamma / lam in advantages.options)")
        return self

    def uses_critic(self) -> bool:
        """Whether some role's estimator is turn-level (GAE): then the learner trains a critic."""
        from sparring.training.advantages import estimator_is_turn_level

        return any(estimator_is_turn_level(n) for n in self.advantages.used())

    @model_validator(mode="after")
    def _exploitability_needs_a_twin(self):
        if self.eval.exploitability:
            from sparring.evals.exploitability import twin_problem

            for arena in self.arenas:
                game = getattr(arena, "game", None)  # only game arenas have one
                problem = twin_problem(game, getattr(arena, "game_options", {})) if game else None
                if problem:
                    raise ValueError(f"eval.exploitability: arena {arena.name!r}: {problem}")
        return self

    @model_validator(mode="after")
    def _unique_arena_names(self):
        names = [a.name for a in self.arenas]
        if len(set(names)) != len(names):
            raise ValueError(f"arena names must be unique, got {names}")
        return self


def _changed(section: BaseModel) -> list[str]:
    """The fields of a config section that differ from their defaults (a dumped config that writes
    the defaults out counts as unchanged)."""
    return sorted(k for k, v in section.model_dump().items() if v != type(section).model_fields[k].default)


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for e in err.errors():
        loc = list(e["loc"])
        path = ".".join(str(p) for p in loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"  {path}: unknown key")
        else:
            got = "" if isinstance(e.get("input"), dict) else f" (got {e.get('input')!r})"  # a whole section: noise
            lines.append(f"  {path}: {e['msg']}{got}")
    return "\n".join(lines)


def apply_override(data: dict, assignment: str) -> None:
    """Apply 'a.b.c=value' to a nested dict (value parsed as YAML; list indices allowed)."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. run.steps=10")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {assignment!r}: the key {key!r} has an empty part (e.g. run.steps=10)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {key}: value is not valid YAML: {e}") from None
    node: Any = data
    for i, part in enumerate(parts):
        where = ".".join(parts[: i + 1])
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                raise ConfigError(f"--set {key}: {where}: no list item {part!r} (the list has {len(node)})")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise ConfigError(f"--set {key}: {'.'.join(parts[:i])} is not a mapping or list")


# Keys a redesign renamed or removed: old dotted path (a "*" matches any list index) -> what to write now.
RENAMED = {
    "advantages.gamma": "credit.gamma",
    "advantages.baseline": "credit.baseline (role is now `sequence`)",
    "advantages.state_decay": "credit.state_decay",
    "advantages.return_discount": "credit.return_discount",
    "advantages.td_lambda": "nothing: removed (TD(lambda) on the tabular state baseline measured no gain; "
                            "see docs/experiments.md)",
    "warm_start.games": "warm_start.search.games (now per game arena, no longer split over them)",
    "warm_start.rollouts": "warm_start.search.rollouts",
    "warm_start.unique": "warm_start.search.unique",
    "warm_start.play": "warm_start.search.play",
    "arenas.*.branches": "nothing: removed (vine sampling measured no gain; see docs/experiments.md)",
}


def _renamed_keys(data: dict) -> list[str]:
    """Messages for every renamed or removed key present in raw config data."""
    found = []

    def walk(node, parts, prefix):
        if not parts:
            return True
        head, rest = parts[0], parts[1:]
        if head == "*" and isinstance(node, list):
            return [(f"{prefix}{i}.", item, rest) for i, item in enumerate(node)]
        if isinstance(node, dict) and head in node:
            return [(f"{prefix}{head}.", node[head], rest)]
        return []

    for old, new in RENAMED.items():
        frontier = [("", data, old.split("."))]
        while frontier:
            prefix, node, parts = frontier.pop()
            nxt = walk(node, parts, prefix)
            if nxt is True:
                found.append(f"  {prefix[:-1]}: renamed to {new}" if not new.startswith("nothing")
                             else f"  {prefix[:-1]}: {new}")
            else:
                frontier.extend(nxt)
    credit = data.get("credit")
    if isinstance(credit, dict) and credit.get("baseline") == "role":
        found.append("  credit.baseline: 'role' is now 'sequence' (the estimator's own baseline, e.g. RAE's per-role EMA)")
    ws = data.get("warm_start")
    if isinstance(ws, dict) and ws.get("keep") == "best":
        found.append("  warm_start.keep: 'best' is now `warm_start.search: {rollouts, games, unique, play}` "
                     "(Monte-Carlo search labels; drop keep)")
    return found


def load_config(path: str | Path | None = None, overrides: list[str] = (), data: dict | None = None,
                imports: list[str] = ()) -> ExperimentConfig:
    """Read YAML (or take `data`), apply `--set` overrides, import `imports:` (and `imports`, the
    CLI's --import modules) and the `sparring.plugins` entry points, then validate."""
    from sparring.plugins import PluginError, import_modules, load_entry_points

    source = str(path) if path else "<dict>"
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot read config {path}: {e.strerror}") from e
        except UnicodeDecodeError as e:
            raise ConfigError(f"cannot read config {path}: not UTF-8 text (byte {e.start})") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
            raise ConfigError(f"{where}: not valid YAML: {getattr(e, 'problem', None) or e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    data = copy.deepcopy(data)  # overrides must not reach the caller's nested dicts
    for assignment in overrides:
        apply_override(data, assignment)
    renamed = _renamed_keys(data)
    if renamed:
        raise ConfigError("\n".join([f"config {source} uses keys that were renamed or removed:", *renamed]))
    modules = data.get("imports", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in [*modules, *imports]):
        raise ConfigError(f"{source}: imports: expected a list of module names, got {modules!r}")
    data["imports"] = list(dict.fromkeys([*modules, *imports]))
    try:
        load_entry_points()
        search = [Path(path).resolve().parent] if path is not None else []
        import_modules(data["imports"], f"{source}: imports", search)
    except PluginError as e:
        raise ConfigError(str(e)) from None
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(e, source)) from None


def __getattr__(name: str):
    """Arena kinds' config models live with their arenas; these names stay importable from here."""
    if name == "GameArenaConfig":
        from sparring.arenas.game_arena import GameArenaConfig

        return GameArenaConfig
    if name in ("AbsoluteZeroArenaConfig", "AZRewardConfig", "AZBufferConfig", "AZSandboxConfig"):
        from sparring.arenas import absolute_zero_config

        return getattr(absolute_zero_config, name)
    raise AttributeError(f"module 'sparring.config' has no attribute {name!r}")
