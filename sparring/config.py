"""Experiment configuration: one pydantic model per component, composed into `ExperimentConfig`.

Configs come from YAML (outside data), so they are validated strictly: unknown keys and
ill-typed values raise `ConfigError` with one message that names every offending key path and
the file. `--set a.b=value` overrides are parsed as YAML scalars and applied before validation.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

Estimator = Literal["rae", "grpo", "dr_grpo", "trr_plus_plus", "reinforce_pp", "reinforce"]


class ConfigError(ValueError):
    """A config file or override that does not validate; the message names the keys."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class RunConfig(_Strict):
    name: str = "run"
    """Run name, used in logs."""
    output_dir: str = "runs/run"
    """Where checkpoints, metrics.jsonl and the warm-started model go; an existing run resumes."""
    seed: int = 0
    """Seed for torch, numpy, python and episode seeds."""
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
    name: str = "tiny"
    """'tiny' (built locally, offline), a local HF model directory, or a hub id."""
    tiny: TinyModelConfig = TinyModelConfig()
    """Shape of the tiny model when name == 'tiny'."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Parameter dtype of the learner and the HF engine."""
    lora: LoraConfig | None = None
    """Train LoRA adapters (PEFT) instead of all weights; null trains everything."""


class EngineConfig(_Strict):
    backend: Literal["hf"] = "hf"
    """Inference backend for rollouts ('hf': transformers generate behind an async batcher)."""
    max_batch_size: int = Field(256, ge=1)
    """Most sequences per generate call."""


class SamplingConfig(_Strict):
    max_new_tokens: int = Field(8, ge=1)
    """Completion length cap for a turn."""
    temperature: float = Field(1.0, ge=0.0)
    """Rollout sampling temperature (the learner's log-probs use the same)."""
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    """Nucleus sampling mass."""


class InvalidActionConfig(_Strict):
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
    def _retry_defaults_to_penalty(self):
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
    path: str | None = None
    """Model directory for kind == 'checkpoint'."""
    pool: PoolConfig = PoolConfig()
    """Pool settings for kind == 'pool'."""
    endpoint: EndpointConfig | None = None
    """Endpoint for kind == 'openai'."""


class GameArenaConfig(_Strict):
    kind: Literal["game"] = "game"
    """Arena kind: a turn-based game from the registry."""
    name: str
    """Arena name, used in metric keys and RAE keys."""
    game: str
    """Registered game name (sparring.environments.names())."""
    game_options: dict[str, Any] = {}
    """Options passed to the game constructor (e.g. hands: 3)."""
    episodes_per_step: int = Field(64, ge=1)
    """Episodes collected from this arena every step."""
    opponent: OpponentConfig = OpponentConfig()
    """Who plays the other seats."""
    random_opening: int = Field(0, ge=0)
    """Exploring starts: each training episode first plays 0..N uniformly random legal moves that
    no one is trained on (evaluation always starts from the usual position)."""
    branches: int = Field(1, ge=1)
    """Vine sampling: after each game, branches - 1 more games continue from a copy of one of its
    trainable decisions (chosen uniformly), each sampling that move afresh; with
    advantages.baseline: state the moves from that shared position are credited against each
    other. An episode's branches come on top of episodes_per_step. (TicTacToe: no gain, README.)"""
    shared_role: bool = False
    """One role for all seats instead of one role per seat."""
    invalid_action: InvalidActionConfig = InvalidActionConfig()
    """The explicit rule for invalid answers."""

    @model_validator(mode="after")
    def _opponent_settings(self):
        if self.opponent.kind == "checkpoint" and not self.opponent.path:
            raise ValueError("opponent.path is required when opponent.kind is 'checkpoint'")
        if self.opponent.kind == "openai" and self.opponent.endpoint is None:
            raise ValueError("opponent.endpoint is required when opponent.kind is 'openai'")
        return self


def _arena_kind(value: Any) -> str:
    return value.get("kind", "game") if isinstance(value, dict) else getattr(value, "kind", "game")


class AZRewardConfig(_Strict):
    scheme: Literal["paper", "code", "none"] = "paper"
    """Format-aware penalties (absolute_zero/rewards.py): 'paper' (eq. 6: proposer bad format -1, parsed
    but invalid -0.5, valid but unlearnable 0; solver bad format -1, wrong -0.5), 'code' (the released AZR
    code: any invalid proposal -1, valid but unlearnable -0.5; solver as 'paper'), 'none' (all 0)."""
    induction_scoring: Literal["all", "fraction"] = "all"
    """Induction solver score on held-out pairs: 'all' (1 iff every pair passes; AZR's 'binary') or 'fraction'."""
    complexity_coef: float = Field(0.0, ge=0.0)
    """Proposer bonus per unit of AST complexity (nodes / 100), deduction/abduction, when learnable; 0: off."""
    complexity_max: float = Field(0.5, ge=0.0)
    """Cap of the complexity bonus."""
    diversity_coef: float = Field(0.0, ge=0.0)
    """Proposer bonus per unit of mean AST edit distance to the references, when learnable; 0: off."""
    diversity_max: float = Field(0.5, ge=0.0)
    """Cap of the diversity bonus."""


class AZBufferConfig(_Strict):
    cap: int = Field(4096, ge=1)
    """Entries kept per task type; past it the oldest non-seed entry is evicted (FIFO)."""
    recency: float = Field(3.0, ge=0.0)
    """Sampling weight rises linearly with insertion order: the newest weighs 1 + recency times the oldest."""


class AZSandboxConfig(_Strict):
    backend: Literal["local", "docker", "unsafe"] = "local"
    """Sandbox backend that validates proposals and checks answers."""
    workers: int = Field(0, ge=0)
    """Sandbox worker processes; 0: one per CPU."""
    timeout_s: float = Field(2.0, gt=0.0, lt=3600.0)
    """Wall-clock limit of one call of f."""
    memory_mb: int = Field(256, ge=48)
    """Address-space limit of a program's process."""


class AbsoluteZeroArenaConfig(_Strict):
    kind: Literal["absolute_zero"] = "absolute_zero"
    """Arena kind: Absolute Zero self-play (propose -> validate -> solve over code tasks)."""
    name: str = "absolute_zero"
    """Arena name, used in metric keys and TRR++ keys (arena, '<task>/<proposer|solver>')."""
    episodes_per_step: int = Field(64, ge=1)
    """Proposals per task type per step; the solve phase trains as many solver tasks per type (paper: 64)."""
    task_types: list[Literal["deduction", "abduction", "induction"]] = ["deduction", "abduction", "induction"]
    """Task types played; each has a proposer and a solver role."""
    references: int = Field(6, ge=0)
    """K: reference triplets from the task's buffer shown to a deduction/abduction proposer (paper: 6)."""
    mc_samples: int = Field(8, ge=1)
    """N: solver rollouts per valid proposal at the training temperature, for its learnability; not trained
    (paper: 8)."""
    induction_inputs: int = Field(6, ge=2)
    """Inputs an induction proposer is asked for; the solver sees the first half of the pairs, the rest held out."""
    proposer_max_new_tokens: int = Field(512, ge=1)
    """Completion cap of a proposer turn."""
    solver_max_new_tokens: int = Field(512, ge=1)
    """Completion cap of a solver turn."""
    reward: AZRewardConfig = AZRewardConfig()
    """Penalties, induction scoring and optional proposer bonuses."""
    buffer: AZBufferConfig = AZBufferConfig()
    """Task buffers (seeded with the identity program)."""
    sandbox: AZSandboxConfig = AZSandboxConfig()
    """Where proposals are validated and answers checked."""
    export_buffers: bool = True
    """Write the buffers as JSONL to <run dir>/absolute_zero/<name>/buffers.jsonl after every step."""

    @model_validator(mode="after")
    def _distinct_task_types(self):
        if not self.task_types or len(set(self.task_types)) != len(self.task_types):
            raise ValueError(f"task_types must be non-empty and distinct, got {self.task_types}")
        return self

    @property
    def invalid_action(self) -> InvalidActionConfig:
        """The trainer reads a retry penalty per arena; Absolute Zero never retries a turn (every
        turn is its own single-turn episode and a malformed one is not retried), so it is unused."""
        return InvalidActionConfig()


# One entry per arena kind; `kind` picks the model and defaults to "game".
ARENA_KINDS = ("game", "absolute_zero")
ArenaConfig = Annotated[Union[Annotated[GameArenaConfig, Tag("game")],
                              Annotated[AbsoluteZeroArenaConfig, Tag("absolute_zero")]], Discriminator(_arena_kind)]


class WarmStartConfig(_Strict):
    enabled: bool = False
    """Run a supervised format warm start (TRL SFTTrainer) before RL."""
    examples: int = Field(3000, ge=1)
    """Transcript turns of random legal play to train on."""
    epochs: float = Field(2.0, gt=0)
    """SFT epochs."""
    learning_rate: float = Field(1e-3, gt=0)
    """SFT learning rate."""
    batch_size: int = Field(32, ge=1)
    """SFT per-device batch size."""
    keep: Literal["all", "winners", "best"] = "all"
    """Which random-play moves become targets: all (format only); winners: only those of the player
    who went on to win that random game; best: per position, the move whose random games ended
    best for the mover (Monte-Carlo policy improvement over random play). No scripted strategy."""
    games: int = Field(0, ge=0)
    """With keep: best, how many random games score the moves (0: four per example)."""
    rollouts: int = Field(0, ge=0)
    """With keep: best, score each visited position's moves by this many random continuations
    after each move instead of by the games that passed through it (0: by the games)."""
    unique: bool = False
    """With keep: best, one row per distinct position visited (`examples` then counts visits),
    so the rare deep positions weigh as much as the openings random play keeps revisiting."""
    play: Literal["random", "best"] = "random"
    """With keep: best and rollouts, who plays the games that choose the positions: random (every
    seat uniformly random) or best (one seat per game, in turn, plays the best-scored move, the
    others random): the positions a player who has learned the labels meets, policy iteration's
    on-policy states."""

    @model_validator(mode="after")
    def _options_need_best(self):
        for key, value in (("rollouts", self.rollouts), ("unique", self.unique), ("play", self.play != "random")):
            if value and self.keep != "best":
                raise ValueError(f"{key}={getattr(self, key)} only applies with keep: best (keep is {self.keep!r})")
        if self.play == "best" and not self.rollouts:
            raise ValueError("play=best needs rollouts > 0 (the moves it plays are scored by them)")
        return self


class AdvantageConfig(_Strict):
    estimator: Estimator = "rae"
    """Default estimator for every role."""
    per_role: dict[str, Estimator] = {}
    """Estimator overrides by role name."""
    rae_alpha: float = Field(0.95, ge=0.0, le=1.0)
    """RAE baseline EMA decay."""
    gamma: float = Field(1.0, ge=0.0, le=1.0)
    """Per-turn credit: a turn k turns before the player's last gets gamma**k of the advantage."""
    baseline: Literal["role", "state"] = "role"
    """RAE's baseline: the role's EMA (SPIRAL), or per turn the mean return from the same prompt,
    shrunk towards the role's EMA where the state has rarely been seen (a tabular critic)."""
    state_decay: float = Field(0.8, ge=0.0, lt=1.0)
    """With baseline "state": how much of a state's return history each RL step keeps."""
    return_discount: float = Field(1.0, gt=0.0, le=1.0)
    """With baseline "state": a turn k own turns before the player's last is credited with
    return_discount**k of the final reward, so winning sooner and losing later pay (at 1.0 a
    missed win that still wins later costs nothing)."""
    td_lambda: float = Field(1.0, ge=0.0, le=1.0)
    """With baseline "state": below 1, a turn is credited with a lambda-return that bootstraps
    from the state table's value of the player's next decision state (TD(lambda); 0: that value
    alone, 1: the final reward alone), lowering the variance a single game's ending adds.
    (TicTacToe: no gain at 0.5, README.)"""

    @model_validator(mode="after")
    def _state_options_need_state_baseline(self):
        for key, value in (("return_discount", self.return_discount), ("td_lambda", self.td_lambda)):
            if value != 1.0 and self.baseline != "state":
                raise ValueError(f"{key}={value} only applies with baseline: state (baseline is {self.baseline!r})")
        return self


class LossConfig(_Strict):
    clip_low: float = Field(0.2, ge=0.0)
    """PPO ratio clip below 1."""
    clip_high: float = Field(0.28, ge=0.0)
    """PPO ratio clip above 1 (clip-higher)."""
    aggregation: Literal["token_mean", "sequence_mean"] = "token_mean"
    """How token losses become one number."""
    kl_coef: float = Field(0.0, ge=0.0)
    """Weight of the k3 KL to the frozen initial model (0: no reference model kept)."""
    entropy_coef: float = Field(0.0, ge=0.0)
    """Entropy bonus weight."""


class OptimConfig(_Strict):
    learning_rate: float = Field(1e-4, gt=0)
    """AdamW learning rate."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    grad_clip: float = Field(1.0, gt=0)
    """Max global gradient norm."""
    micro_batch_size: int = Field(64, ge=1)
    """Sequences per forward/backward (gradient accumulation over the batch)."""
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


class CheckpointConfig(_Strict):
    every: int = Field(10, ge=1)
    """Save every N steps (and at the end)."""
    keep: int = Field(2, ge=1)
    """Checkpoints kept on disk."""


class ExperimentConfig(_Strict):
    run: RunConfig = RunConfig()
    """Name, output dir, seed, number of steps."""
    model: ModelConfig = ModelConfig()
    """The one shared model."""
    engine: EngineConfig = EngineConfig()
    """Rollout inference engine."""
    sampling: SamplingConfig = SamplingConfig()
    """Rollout sampling settings for every role."""
    arenas: list[ArenaConfig]
    """Arenas sampled every step."""
    warm_start: WarmStartConfig = WarmStartConfig()
    """Supervised format warm start."""
    advantages: AdvantageConfig = AdvantageConfig()
    """Role-conditioned advantage estimation."""
    loss: LossConfig = LossConfig()
    """Policy-gradient loss."""
    optim: OptimConfig = OptimConfig()
    """Optimiser and batching."""
    eval: EvalConfig = EvalConfig()
    """Periodic evaluation against the uniform-random policy."""
    checkpoint: CheckpointConfig = CheckpointConfig()
    """Checkpointing."""

    @model_validator(mode="after")
    def _unique_arena_names(self):
        names = [a.name for a in self.arenas]
        if len(set(names)) != len(names):
            raise ValueError(f"arena names must be unique, got {names}")
        return self


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for e in err.errors():
        loc = list(e["loc"])
        if len(loc) > 2 and loc[0] == "arenas" and loc[2] in ARENA_KINDS:
            del loc[2]  # the union tag pydantic inserts is not a key the user wrote
        path = ".".join(str(p) for p in loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"  {path}: unknown key")
        else:
            lines.append(f"  {path}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def apply_override(data: dict, assignment: str) -> None:
    """Apply 'a.b.c=value' to a nested dict (value parsed as YAML; list indices allowed)."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. run.steps=10")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
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


def load_config(path: str | Path | None = None, overrides: list[str] = (), data: dict | None = None) -> ExperimentConfig:
    source = str(path) if path else "<dict>"
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise ConfigError(f"cannot read config {path}: {e.strerror}") from e
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    data = copy.deepcopy(data)  # overrides must not reach the caller's nested dicts
    for assignment in overrides:
        apply_override(data, assignment)
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(e, source)) from None
