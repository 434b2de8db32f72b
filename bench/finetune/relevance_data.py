#!/usr/bin/env python3
"""Training and held-out evaluation data of the shipped medical relevance model (models/medical-relevance).

Trains only on text we may redistribute (../shared/data/SOURCES.md):
  medical (score 5)     MedMentions abstracts (CC0), ROCO captions licensed CC BY or CC0
  non-medical (score 1) WikiText-2 (CC BY-SA 3.0), State of the Union addresses (public domain)
Documents are split by document (PMID, ROCO id, article, speech year), 80% train / 20% held out.

The model must learn medicine from content, not the sources' layout, so:
  - WikiText is detokenized (" @-@ " -> "-", " , " -> ",", " 's" -> "'s", brackets, quotes), its
    <unk> placeholders and "= = heading = =" markup dropped; MedMentions' CoNLL tokens likewise.
  - Every text is a window cut to a target length drawn from ONE distribution for both classes: 6-word
    titles and sentence fragments, sentences, paragraphs, and several abstracts / captions / paragraphs
    in a row (up to ~1,500 words), so length carries no signal.
  - Counterfactual negatives (see below): abstracts with their clinical mentions replaced by
    non-medical words score 1, so that scientific register alone is no sign of medicine.
  - Case and punctuation vary on both sides with the same probabilities (lowercased, stripped of
    punctuation, both, upper case, title case for short texts; some sentences joined by line breaks).

Recipes (--recipe), one per training stage of the shipped model: "scratch" (the mix above, for the
first training from scratch; writes train.jsonl and eval.jsonl) and "stage2" (fine-tuning the first
model, see stage2_rows(): text written for medenc in both classes, relevance_synthetic.py, plus as many
texts of the scratch mix); "finetune" is an earlier second mix, not shipped (see finetune_rows():
technical WikiText weighted up, masked abstracts filled with technical words, dose sentences and
inserted clinical mentions as positives). The second-stage recipes write train.jsonl only: all stages
share the held-out split and the scratch recipe's eval.jsonl.

Held-out evaluation (eval.jsonl, never trained on): the held-out 20% of the four training sources at
their natural case, plus IU X-ray reports and MTSamples notes (medical sources never trained on; read
from ../shared only, so their text stays out of the repository).

Usage: relevance_data.py [--shared DIR] --out DIR [--recipe scratch|stage2|finetune] [--train-per-class N]
                         [--replay-per-class N] [--synthetic-seed S] [--seed S] [--eval-per-source N]
DIR defaults to $MEDENC_SHARED_DATA, else ../shared/data next to the repository. Deterministic: the
same shared data gives the same files, byte for byte. Standard library only.
"""
import argparse
import csv
import gzip
import io
import json
import math
import os
import random
import re
import string
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SHARED = os.environ.get("MEDENC_SHARED_DATA", os.path.join(HERE, "..", "..", "..", "shared", "data"))
HELD_OUT_PERCENT = 20


def open_text(path):
    return io.TextIOWrapper(gzip.open(path), encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")


def held_out(key):
    """Stable split by document key (crc32, not Python's salted hash)."""
    return zlib.crc32(key.encode("utf-8")) % 100 < HELD_OUT_PERCENT


def detokenize(text):
    """WikiText / CoNLL token spacing back to normal text."""
    text = text.replace("<unk>", " ")
    text = re.sub(r"\s*@([-,.])@\s*", r"\1", text)
    text = re.sub(r'" ([^"]*?) "', r'"\1"', text)
    text = re.sub(r" ([.,;:!?%)\]}])", r"\1", text)
    text = re.sub(r"([(\[{$]) ", r"\1", text)
    text = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m|') ", r"\1 ", text + " ")
    text = re.sub(r"\s+", " ", text).strip()
    # What dropping <unk> leaves behind: empty brackets, doubled punctuation.
    text = re.sub(r"\(\s*[,;]?\s*\)", "", text)
    text = re.sub(r" ([,.;:])", r"\1", text)
    text = re.sub(r",(?=[,.;:])", "", text)
    return re.sub(r"\s+", " ", text).strip()


SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"(\[A-Z0-9])")


def sentences(text):
    # Dropped <unk> words can leave a sentence that starts with punctuation.
    out = (s.lstrip(",;:. ") for s in SENTENCE_END.split(text))
    return [s for s in out if s]


def words(text):
    return len(text.split())


# ---------------------------------------------------------------------------------------------------
# Sources. Each gives documents {"key", "title", "sentences"}, in file order.

def medmentions_docs(shared):
    """Abstracts (title first) with, per sentence, the CoNLL tokens and their semantic-type BIO tags."""
    docs = []
    for split in ("dev", "test"):
        key, tagged, toks = None, [], []
        for line in open_text(os.path.join(shared, f"medmentions/medmentions_full_semtype_bio.{split}.conll.gz")):
            line = line.rstrip("\n")
            if line.startswith("-DOCSTART-") or not line.strip():
                if toks:
                    tagged.append(toks)
                    toks = []
                if line.startswith("-DOCSTART-"):
                    if key and tagged:
                        docs.append(medmentions_doc(key, tagged))
                    key, tagged = "mm-" + line.split("(")[-1].rstrip(")").strip(), []
                continue
            cols = line.split("\t")
            toks.append((cols[0], cols[-1]))
        if toks:
            tagged.append(toks)
        if key and tagged:
            docs.append(medmentions_doc(key, tagged))
    return docs


def medmentions_doc(key, tagged):
    sents = [detokenize(" ".join(w for w, _ in t)) for t in tagged]
    return {"key": key, "title": sents[0], "sentences": sents[1:], "tagged": tagged}


def roco_docs(shared):
    docs = []
    for r in csv.DictReader(open_text(os.path.join(shared, "roco/roco_val_test_captions_cuis.tsv.gz")),
                            delimiter="\t", quoting=csv.QUOTE_NONE):
        if r["license"] not in ("CC BY", "CC0"):
            continue
        caption = re.sub(r"\s+", " ", r["caption"]).strip()
        if words(caption) >= 3:
            docs.append({"key": "roco-" + r["roco_id"], "title": None, "sentences": sentences(caption)})
    return docs


def wikitext_docs(shared):
    """Articles (" = Title = " lines start one); section headings kept apart as short texts."""
    docs = []
    for split in ("valid", "test"):
        doc = None
        for line in open_text(os.path.join(shared, f"nonmedical/wikitext-2.{split}.txt.gz")):
            s = line.strip()
            if not s:
                continue
            m = re.fullmatch(r"(=+) ([^=].*?) \1", s)
            if m and len(m.group(1)) == 1:
                doc = {"key": "wiki-" + detokenize(m.group(2)), "title": detokenize(m.group(2)), "sentences": [],
                       "headings": []}
                docs.append(doc)
            elif m:
                doc["headings"].append(detokenize(m.group(2)))
            elif doc is not None:
                doc["sentences"].extend(sentences(detokenize(s)))
    return docs


def sotu_docs(shared):
    by_speech = {}
    for line in open_text(os.path.join(shared, "nonmedical/sotu_chunks.jsonl.gz")):
        r = json.loads(line)
        key = f"sotu-{r['year']}-{r['president']}"
        by_speech.setdefault(key, []).append((r["chunk"], r["text"]))
    docs = []
    for key in sorted(by_speech):
        text = " ".join(t for _, t in sorted(by_speech[key]))
        docs.append({"key": key, "title": None, "sentences": sentences(re.sub(r"\s+", " ", text).strip())})
    return docs


def iu_xray_docs(shared):
    docs = []
    for r in csv.DictReader(open_text(os.path.join(shared, "radiology_reports/iu_xray_indiana_reports.csv.gz"))):
        body = " ".join(x.strip() for x in (r["findings"], r["impression"]) if x.strip())
        if body:
            docs.append({"key": "iu-" + r["uid"], "title": r["indication"].strip() or None, "sentences": sentences(body)})
    return docs


def mtsamples_docs(shared):
    docs = []
    for r in csv.reader(open_text(os.path.join(shared, "mtsamples/mtsamples_first400_timarbende.csv.gz"))):
        if len(r) < 5 or not r[4].strip():
            continue
        # The Kaggle copy glues section headers to text with ",": "SUBJECTIVE:,  This ..." -> line breaks.
        body = re.sub(r"\.,(?=[A-Z0-9])", ".\n", r[4])
        body = re.sub(r":,\s*", ": ", body)
        body = re.sub(r"[ \t]+", " ", body).strip()
        sents = [s for part in body.split("\n") for s in sentences(part.strip())]
        docs.append({"key": "mts-" + r[0].strip(), "title": r[3].strip() or r[1].strip(), "sentences": sents})
    return docs


# ---------------------------------------------------------------------------------------------------
# Counterfactual negatives: the label should follow the medical content, not the register. Without
# them the model learns "scientific prose = medical" (PubMed is the only scientific prose it sees).
# Masked abstracts (score 1): MedMentions abstracts whose mentions of clinical semantic groups
# (disorders, anatomy, chemicals and drugs, procedures, physiology, genes, living beings, devices;
# UMLS Semantic Network groups) are replaced by word spans from the non-medical training texts.

CLINICAL_GROUPS = {"DISO", "ANAT", "CHEM", "PROC", "PHYS", "GENE", "LIVB", "DEVI"}
INSERTED_GROUPS = {"DISO", "ANAT", "CHEM", "PROC"}  # unambiguously clinical: no "mice", "cells", "growth"
STOP = set("a an the and or of in on at to for from by with as is are was were be been it its this that these "
           "those he she they we his her their our not but which who".split())


def semantic_groups(shared):
    groups = {}
    for line in open_text(os.path.join(shared, "medmentions/SemGroups_2018.txt")):
        parts = line.rstrip("\n").split("|")
        if len(parts) == 4:
            groups[parts[2]] = parts[0]
    return groups


def clinical_mentions(tagged, groups, wanted=CLINICAL_GROUPS):
    """(start, end) token ranges of the mentions in the wanted semantic groups, one tagged sentence."""
    spans, start, tui = [], None, None
    for i, (_, tag) in enumerate(tagged + [("", "O")]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == tui):
            if groups.get(tui) in wanted:
                spans.append((start, i))
            start = None
        if tag.startswith("B-"):
            start, tui = i, tag[2:]
    return spans


def plain_spans(docs, rng, count):
    """Short spans of content words (1-3 words, not starting or ending in a stop word)."""
    out = []
    sents = [s for d in docs for s in d["sentences"]]
    while len(out) < count:
        w = rng.choice(sents).split()
        n = rng.randint(1, 3)
        if len(w) <= n:
            continue
        i = rng.randrange(len(w) - n + 1)
        span = [x.strip(".,;:!?()\"'") for x in w[i:i + n]]
        if all(x.isalpha() for x in span) and span[0].lower() not in STOP and span[-1].lower() not in STOP:
            out.append(" ".join(span))
    return out


# Dose and unit expressions: numbers with units count as medical only in masked abstracts' absence,
# so masked sentences that keep them are dropped, and sentences with doses are a positive source.
DOSE = re.compile(r"\b\d+(?:\.\d+)?\s?(?:mg|g|mcg|µg|μg|ug|ml|mL|IU|U|units?|mmol|mg/kg|mg/day|mg/d|mL/kg)\b")

# WikiText articles in a technical or scientific register (engineering, weather, geology, chemistry,
# zoology, botany): the non-medical side's scientific prose, weighted up and the source of most filler
# words of the masked abstracts, so that technical vocabulary alone is no sign of medicine.
TECHNICAL_TITLE = re.compile(r"filter|Dvorak|[Hh]urricane|[Tt]yphoon|Tropical|crater|Homarus|Mycena|palm|battleship|"
                             r"submarine|Tank|warship|reaction|technique|season")


def mention_texts(mm_docs, groups):
    """The clinical mentions' words (disorders, drugs, procedures, anatomy), from training abstracts."""
    out = []
    for d in mm_docs:
        for tagged in d["tagged"]:
            for a, b in clinical_mentions(tagged, groups, INSERTED_GROUPS):
                text = detokenize(" ".join(w for w, _ in tagged[a:b]))
                if 1 <= words(text) <= 4 and len(text) >= 5 and any(c.isalpha() for c in text):
                    out.append(text)
    return out


def inserted_mentions(docs, mentions, rng):
    """Counterfactual positives (score 5): non-medical sentences with content spans replaced by clinical
    mentions (about one per 8 words), so that medical content is medical in any register (narrative,
    instructions, speeches), not only in abstracts and captions."""
    out = []
    for d in docs:
        sents = []
        for s in d["sentences"]:
            w = s.split()
            want, tries = max(1, len(w) // 8), 0
            while want and tries < 50:
                tries += 1
                n = rng.randint(1, 2)
                if len(w) < n:
                    break
                i = rng.randrange(len(w) - n + 1)
                span = w[i:i + n]
                if any(x.lower().strip(".,;:!?\"'()") in STOP or x.startswith("\u2063") for x in span):
                    continue
                tail = span[-1][len(span[-1].rstrip(".,;:!?")):]
                w[i:i + n] = ["\u2063" + rng.choice(mentions) + tail]  # marked while inserting, unmarked below
                want -= 1
            if not want:  # only sentences that did get their mentions
                sents.append(" ".join(w).replace("\u2063", ""))
        if not sents:
            continue
        out.append({"key": d["key"] + "-inserted", "title": None, "sentences": sents})
    return out


def masked_abstracts(mm_docs, groups, fillers, rng, drop_doses=False):
    docs = []
    for d in mm_docs:
        sents = []
        for tagged in d["tagged"]:
            words = [w for w, _ in tagged]
            for a, b in reversed(clinical_mentions(tagged, groups)):
                words[a:b] = [rng.choice(fillers)]
            sents.append(detokenize(" ".join(words)))
        if drop_doses:  # "500 mg" stays a sign of medicine, not of its absence
            sents = [x for x in sents if not DOSE.search(x)]
        if len(sents) >= 2:
            docs.append({"key": d["key"] + "-masked", "title": sents[0], "sentences": sents[1:]})
    return docs


# ---------------------------------------------------------------------------------------------------
# Windows of a target length.

def target_words(rng):
    """One length distribution for both classes: titles to several paragraphs (~1,500 words)."""
    u = rng.random()
    if u < 0.25:
        return rng.randint(3, 12)           # titles, fragments, short sentences
    if u < 0.55:
        return rng.randint(13, 40)          # sentences
    if u < 0.80:
        return int(math.exp(rng.uniform(math.log(40), math.log(200))))   # paragraphs
    if u < 0.95:
        return int(math.exp(rng.uniform(math.log(200), math.log(600))))  # pages
    return int(math.exp(rng.uniform(math.log(600), math.log(1500))))     # long documents


def short_text(doc, n, rng):
    """A title or heading of about n words, else the first n words of a sentence."""
    if "anchor" in doc:  # a window around the dose, not the sentence's first words
        w = doc["sentences"][0].split()
        start = max(0, min(doc["anchor"] - rng.randint(0, max(0, n - 2)), len(w) - n))
        return " ".join(w[start:start + n]).rstrip(",;:")
    titles = [t for t in [doc.get("title")] + doc.get("headings", []) if t and 3 <= words(t) <= max(n + 4, 6)]
    if titles and rng.random() < 0.5:
        return rng.choice(titles)
    pool = [s for s in doc["sentences"] if words(s) >= n] or doc["sentences"]
    if not pool:
        return None
    w = rng.choice(pool).split()
    start = 0 if rng.random() < 0.7 else rng.randint(0, max(0, len(w) - n))
    return " ".join(w[start:start + n]).rstrip(",;:")


def window(docs, i, n, rng):
    """About n words of consecutive sentences from docs[i] on, going on into the next documents."""
    doc = docs[i]
    if n <= 12:
        return short_text(doc, n, rng)
    out, count = [], 0
    start = rng.randrange(len(doc["sentences"])) if doc["sentences"] and rng.random() < 0.5 else 0
    if start == 0 and doc.get("title") and rng.random() < 0.5:
        out.append(doc["title"] + ("." if doc["title"][-1:].isalnum() else ""))
        count += words(doc["title"])
    j, k = i, start
    while count < n:
        sents = docs[j]["sentences"]
        if k >= len(sents):
            j, k = (j + 1) % len(docs), 0
            if j == i:
                break
            continue
        out.append(sents[k])
        count += words(sents[k])
        k += 1
    if not out:
        return None
    # A long sentence overshooting a short target is cut at a word boundary.
    text = " ".join(out)
    if n < 40 and count > 2 * n:
        text = " ".join(text.split()[:n])
    return text


PUNCT = re.compile("[" + re.escape(string.punctuation) + "]")


def vary(text, n_words, rng):
    """Case, punctuation and line breaks, drawn the same way for both classes."""
    if rng.random() < 0.15 and n_words > 30:
        text = re.sub(r"(?<=[.!?]) (?=\S)", lambda m: "\n" if rng.random() < 0.3 else " ", text)
    u = rng.random()
    if u < 0.15:
        return text.lower()
    if u < 0.25:
        return re.sub(r"[ \t]+", " ", PUNCT.sub(" ", text)).strip()
    if u < 0.33:
        return re.sub(r"[ \t]+", " ", PUNCT.sub(" ", text.lower())).strip()
    if u < 0.37:
        return text.upper()
    if u < 0.45 and n_words <= 16:
        return string.capwords(text)
    return text


def sample(sources, weights, count, rng, augment):
    """count texts, each from a source drawn by weight, at lengths from target_words()."""
    rows = []
    names = sorted(sources)
    w = [weights[s] for s in names]
    while len(rows) < count:
        name = rng.choices(names, w)[0]
        docs = sources[name]
        n = target_words(rng)
        text = window(docs, rng.randrange(len(docs)), n, rng)
        if not text or words(text) < 2:
            continue
        if augment:
            text = vary(text, n, rng)
        rows.append({"source": name, "text": text})
    return rows


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def scratch_rows(a, train, rng, drop_doses=False):
    """The first stage's mix (from scratch): the four sources and the masked abstracts (drop_doses: without
    their sentences that keep a dose, as the second stage replays it)."""
    groups = semantic_groups(a.shared)
    other_train = train["other"]["wikitext"] + train["other"]["sotu"]
    fillers = plain_spans(other_train, rng, 20000)
    train["other"]["masked_abstracts"] = masked_abstracts(train["medical"]["medmentions"], groups, fillers, rng,
                                                         drop_doses)
    print(f"counterfactuals: {len(train['other']['masked_abstracts'])} masked abstracts, {len(fillers)} filler spans")
    weights = {"medmentions": 0.6, "roco": 0.4, "wikitext": 0.425, "sotu": 0.425, "masked_abstracts": 0.15}
    rows = [dict(r, score=5.0) for r in sample(train["medical"], weights, a.train_per_class, rng, True)]
    rows += [dict(r, score=1.0) for r in sample(train["other"], weights, a.train_per_class, rng, True)]
    rng.shuffle(rows)
    return rows


def finetune_rows(a, train, rng):
    """The second stage's mix (fine-tuning the first model): what the first model got wrong on text from
    outside its collections was scientific prose from other fields (scored medical) and medical text in
    registers it never saw (instructions, doses, short narrative notes; scored not medical). So:
      - technical WikiText articles weighted up, and the masked abstracts (weighted up) filled with
        their words instead of the speeches', their dose sentences dropped;
      - sentences with doses and units from the abstracts, cut around the dose, as a positive source;
      - non-medical sentences with clinical mentions inserted (inserted_mentions) as positives."""
    wiki = train["other"]["wikitext"]
    train["other"]["wikitext_technical"] = [d for d in wiki if TECHNICAL_TITLE.search(d["title"])]
    train["other"]["wikitext"] = [d for d in wiki if not TECHNICAL_TITLE.search(d["title"])]
    print(f"wikitext_technical: {len(train['other']['wikitext_technical'])} training articles")
    groups = semantic_groups(a.shared)
    other_train = train["other"]["wikitext"] + train["other"]["sotu"]
    fillers = plain_spans(other_train, rng, 8000) + plain_spans(train["other"]["wikitext_technical"], rng, 12000)
    mm_train = train["medical"]["medmentions"]
    train["other"]["masked_abstracts"] = masked_abstracts(mm_train, groups, fillers, rng, drop_doses=True)
    train["medical"]["dose_sentences"] = [
        {"key": f"{d['key']}-dose{i}", "title": None, "sentences": [s], "anchor": words(s[:DOSE.search(s).start()])}
        for d in mm_train for i, s in enumerate(d["sentences"]) if DOSE.search(s)]
    mentions = mention_texts(mm_train, groups)
    train["medical"]["inserted_mentions"] = inserted_mentions(other_train + train["other"]["wikitext_technical"],
                                                              mentions, rng)
    print(f"counterfactuals: {len(train['other']['masked_abstracts'])} masked abstracts, {len(fillers)} filler spans; "
          f"{len(train['medical']['inserted_mentions'])} documents with {len(mentions)} clinical mentions inserted; "
          f"{len(train['medical']['dose_sentences'])} dose sentences")
    weights = {"medmentions": 0.52, "roco": 0.31, "dose_sentences": 0.07, "inserted_mentions": 0.1,
               "wikitext": 0.3, "wikitext_technical": 0.12, "sotu": 0.33, "masked_abstracts": 0.25}
    rows = [dict(r, score=5.0) for r in sample(train["medical"], weights, a.train_per_class, rng, True)]
    rows += [dict(r, score=1.0) for r in sample(train["other"], weights, a.train_per_class, rng, True)]
    rng.shuffle(rows)
    return rows


def stage2_rows(a, train, rng):
    """The second stage's mix (fine-tuning the first model): authored text of both classes
    (relevance_synthetic.py: titles and sentences of 38 non-medical fields and 19 medical specialties
    from one set of shared templates; dosing lines, notes, result lines and their non-medical
    counterparts) plus a replay of the first stage's mix (fresh windows of the same sources and
    masked abstracts), so that the held-out sources keep their scores."""
    import relevance_synthetic
    # The first stage's masked abstracts kept sentences with doses ("500 mg" with the drug masked) as
    # negatives, which taught it that dosing lines are not medical: replayed without them.
    replay = scratch_rows(argparse.Namespace(shared=a.shared, train_per_class=a.replay_per_class), train, rng,
                          drop_doses=True)
    authored = relevance_synthetic.rows(a.train_per_class, random.Random(a.synthetic_seed))
    rows = replay + [{"source": r["source"], "text": r["text"], "score": r["score"]} for r in authored]
    rng.shuffle(rows)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shared", default=DEFAULT_SHARED, help="the shared data folder (default: %(default)s)")
    p.add_argument("--out", required=True)
    p.add_argument("--train-per-class", type=int, default=8000,
                   help="texts per class (stage2: authored texts per class; default: %(default)s)")
    p.add_argument("--eval-per-source", type=int, default=400)
    p.add_argument("--seed", type=int, default=19)
    p.add_argument("--recipe", choices=("scratch", "finetune", "stage2"), default="scratch",
                   help="scratch: the first training's mix; stage2: the shipped second stage's mix (see stage2_rows); "
                        "finetune: an earlier second-stage mix, not shipped (see finetune_rows)")
    p.add_argument("--replay-per-class", type=int, default=3000,
                   help="stage2: texts per class of the first stage's mix (default: %(default)s)")
    p.add_argument("--synthetic-seed", type=int, default=23,
                   help="stage2: seed of the authored texts (relevance_synthetic.py; default: %(default)s)")
    a = p.parse_args()
    if not os.path.isdir(a.shared):
        p.error(f"{a.shared}: no shared data folder (give --shared DIR or set MEDENC_SHARED_DATA)")
    rng = random.Random(a.seed)

    train = {"medical": {}, "other": {}}
    test = {"medical": {}, "other": {}}
    for cls, name, docs in (("medical", "medmentions", medmentions_docs(a.shared)),
                            ("medical", "roco", roco_docs(a.shared)),
                            ("other", "wikitext", wikitext_docs(a.shared)),
                            ("other", "sotu", sotu_docs(a.shared))):
        docs = [d for d in docs if d["sentences"]]
        train[cls][name] = [d for d in docs if not held_out(d["key"])]
        test[cls][name] = [d for d in docs if held_out(d["key"])]
        print(f"{name}: {len(train[cls][name])} training documents, {len(test[cls][name])} held out")

    if a.recipe == "scratch":
        rows = scratch_rows(a, train, rng)
    elif a.recipe == "stage2":
        rows = stage2_rows(a, train, rng)
    else:
        rows = finetune_rows(a, train, rng)
    os.makedirs(a.out, exist_ok=True)
    write_jsonl(os.path.join(a.out, "train.jsonl"), rows)
    print(f"train.jsonl: {len(rows)} texts, {sum(words(r['text']) for r in rows)} words")

    if a.recipe != "scratch":
        return  # one held-out set for both stages: the scratch recipe's eval.jsonl (the same split)

    # Held-out evaluation: the training sources' held-out documents and two medical sources never
    # trained on, each at the same length distribution, natural case.
    test["medical"]["iu_xray"] = iu_xray_docs(a.shared)
    test["medical"]["mtsamples"] = mtsamples_docs(a.shared)
    ev = []
    for cls, score in (("medical", 5.0), ("other", 1.0)):
        for name in sorted(test[cls]):
            docs = [d for d in test[cls][name] if d["sentences"]]
            for r in sample({name: docs}, {name: 1.0}, a.eval_per_source, rng, False):
                ev.append({"id": f"{name}-{len(ev)}", "source": name, "text": r["text"], "score": score})
    write_jsonl(os.path.join(a.out, "eval.jsonl"), ev)
    print(f"eval.jsonl: {len(ev)} held-out texts")


if __name__ == "__main__":
    main()
