#!/usr/bin/env python3
"""Authored training text for the second stage of the medical relevance model (written for medenc,
released CC0 1.0 with the term lists in relevance_terms.py).

The first stage saw scientific writing only in PubMed abstracts, so it scores any title or sentence in a
scientific or technical register as medical, and it never saw dosing lines, nursing notes or lab result
lines. This generator writes short texts (3-60 words) of both classes from hand-written term lists of
38 non-medical fields and 19 medical specialties (relevance_terms.py) and hand-written templates:

  - shared templates (titles, abstract sentences, result sentences): ONE list of shapes filled from
    either side's terms, so "A randomised trial of X in Y", "Measurement of X using Y" or "Results: X
    improved by 12%" appear with medical and non-medical words alike and the shape is no class cue;
  - field sentences written per field (relevance_terms.py "sentence");
  - registers in pairs: medication instructions vs recipes, garden, DIY and lab instructions; patient-facing
    health advice in the second person vs travel, money, home and software advice of the same shapes;
    nursing and progress notes vs maintenance, IT incident and field logs; lab result lines vs water,
    soil, material and server test lines; triage notes vs help-desk and roadside tickets. Numbers with
    units, abbreviations, the second person and the imperative mood appear on both sides.

Usage: relevance_synthetic.py --out FILE [--per-class N] [--seed S]   (or import rows())
Deterministic: one random.Random(seed), lists only (no set or dict-order dependence beyond insertion
order), the same file byte for byte. Standard library only.
"""
import argparse
import json
import random
import re
import string

from relevance_terms import MEDICAL, NON_MEDICAL

# ---------------------------------------------------------------------------------------------------
# Shared shapes. Slots: {topic} {method} {method2} {setting} {quantity} {num} {unit} {pct} {actor}
# {study} {year} {n}. Every template here is used for both classes.

STUDY = ["a randomised trial", "a randomized controlled trial", "a cohort study", "a case study", "a systematic review",
         "a meta-analysis", "a pilot study", "a prospective study", "a retrospective analysis", "a cross-sectional survey",
         "a field experiment", "a simulation study", "a multicentre study", "a comparative study", "a benchmark",
         "a longitudinal study", "an observational study", "a feasibility study", "a narrative review",
         "evidence from {n} sites", "lessons from {n} years", "a ten-year follow-up", "a national survey",
         "a preliminary report", "a replication", "a controlled experiment", "a registry analysis", "an update"]

TITLES = [
    "{Method} for {topic}", "{Method} for {topic} in {setting}", "{Topic} in {setting}", "{Topic} in {setting}: {study}",
    "{Topic}: {study}", "{Study} of {method} in {setting}", "{Study} of {method} for {topic}",
    "Effect of {method} on {quantity} in {setting}", "Effects of {method} on {topic}",
    "Measurement of {quantity} using {method}", "Measuring {quantity} in {setting}", "{Quantity} after {method}: {n}-year results",
    "Long-term outcomes of {method} in {setting}", "Risk factors for {topic} in {setting}", "Predictors of {quantity} in {setting}",
    "{Method} versus {method2} for {topic}", "{Method} compared with {method2} in {setting}", "A survey of {method} for {topic}",
    "A review of {topic}", "Recent advances in {topic}", "Towards better {topic}", "On the {quantity} of {topic}",
    "Predicting {quantity} with {method}", "The role of {method} in {topic}", "Trends in {topic} in {setting}, {year}-{year2}",
    "{Topic} and {quantity}: {study}", "Why {topic} matters for {setting}", "New insights into {topic}",
    "{Method}: a practical guide", "Guidelines for {topic} in {setting}", "{Topic} revisited",
    "Variation in {quantity} across {setting}", "Cost of {method} in {setting}", "Early {method} for {topic}",
    "Uncertainty in {quantity} estimates for {topic}", "{Quantity} in {setting} during {year}",
    "Is {method} worth it for {topic}?", "What drives {topic}?", "Rethinking {topic}",
    "{Topic} under {method}", "Improving {quantity} in {setting} with {method}", "{Method} in practice",
    "Management of {topic} in {setting}", "Assessment of {topic} with {method}", "Diagnosis of {topic} in {setting}",
    "Detecting {topic} early with {method}", "Monitoring {quantity} in {setting}", "{Topic}: current evidence and open questions",
    "Efficacy of {method} for {topic}", "Patterns of {topic} among {actor}", "{Quantity} and {topic} in {setting}",
    "An analysis of {topic}", "How {actor} use {method}", "The economics of {method}", "{Method} and {method2} compared",
]

SENTENCES = [
    "We studied {topic} in {setting} using {method}.",
    "In this {studyword}, {method} reduced {quantity} by {pct}% compared with {method2}.",
    "Results: {quantity} improved by {pct}% after {method}.",
    "The {quantity} rose from {num} to {num2} {unit} after {method}.",
    "The {quantity} fell to {num} {unit} in {setting}.",
    "Background: {topic} is an important problem in {setting}. Methods: we compared {method} with {method2}.",
    "Methods: {n} {actor} in {setting} were followed for {n2} months.",
    "Conclusion: {method} is a promising approach to {topic} in {setting}.",
    "We enrolled {n} participants from {setting} and measured {quantity} before and after {method}.",
    "Our findings suggest that {topic} is more common in {setting} than previously thought.",
    "Data from {n} {actor} showed no difference in {quantity} between the two groups.",
    "{Method} was associated with lower {quantity} in {setting} (p = 0.0{d}).",
    "A total of {n} cases of {topic} were identified between {year} and {year2}.",
    "The mean {quantity} was {num} {unit} (range {num} to {num2}).",
    "This review summarises recent work on {topic} and open questions about {method}.",
    "We propose {method} for {topic} and evaluate it in {setting}.",
    "Compared with {method2}, {method} gave a higher {quantity}.",
    "{Actor} in {setting} increasingly rely on {method}.",
    "Further work is needed to understand {topic} in {setting}.",
    "{Quantity} was measured every {n2} hours for {n2b} days.",
    "The {studyword} was stopped early because {method} clearly outperformed {method2}.",
    "Here we show that {method} changes {quantity} in {setting}.",
    "{Topic} remains poorly understood despite decades of work.",
    "Sensitivity analyses gave similar estimates of {quantity}.",
    "We derive an expression for the {quantity} of {topic} and test it against {method}.",
    "We report measurements of {quantity} in {setting} using {method}.",
    "Using {method}, we show that {topic} depends strongly on {quantity}.",
    "Here we describe {topic} in {setting} and discuss what it means for {method}.",
    "Our analysis of {n} records shows that {quantity} varies widely across {setting}.",
    "{Method} was introduced in {setting} in {year} to address {topic}.",
    "The {quantity} was {num} {unit} with {method} and {num2} {unit} with {method2}.",
    "We describe the case of {setting} where {method} failed to prevent {topic}.",
]

STUDYWORD = ["study", "trial", "experiment", "analysis", "survey", "cohort", "evaluation", "pilot"]


def cap(s):
    return s[:1].upper() + s[1:] if s else s


def number(rng, lo, hi, dec):
    x = rng.uniform(lo, hi)
    return f"{x:.{dec}f}" if dec else str(int(round(x)))


def fill(template, field, rng):
    """Fills a shared template with one field's terms."""
    unit, lo, hi, dec = rng.choice(field["unit"])
    a, b = sorted([number(rng, lo, hi, dec), number(rng, lo, hi, dec)], key=float)
    methods = field["method"]
    m1 = rng.choice(methods)
    m2 = rng.choice([m for m in methods if m != m1] or methods)
    y = rng.randint(1980, 2023)
    v = {"topic": rng.choice(field["topic"]), "method": m1, "method2": m2, "setting": rng.choice(field["setting"]),
         "quantity": rng.choice(field["quantity"]), "actor": rng.choice(field["actor"]),
         "study": rng.choice(STUDY).replace("{n}", str(rng.choice([3, 4, 5, 8, 10, 12, 20, 30, 45]))),
         "studyword": rng.choice(STUDYWORD), "num": a, "num2": b, "unit": unit, "pct": str(rng.randint(3, 60)),
         "n": str(rng.choice([12, 24, 40, 60, 96, 120, 150, 212, 300, 410, 850, 1200, 2400])),
         "n2": str(rng.randint(2, 24)), "n2b": str(rng.randint(3, 30)), "d": str(rng.randint(1, 4)),
         "year": str(y), "year2": str(y + rng.randint(2, 15))}
    for k in ("topic", "method", "study", "quantity", "actor"):
        v[cap(k)] = cap(v[k])
        v[k + "_cap"] = cap(v[k])
    text = template.format(**v)
    return re.sub(r"\s+([,.;:?])", r"\1", re.sub(r" +", " ", text)).strip()


# ---------------------------------------------------------------------------------------------------
# Registers the collections lack, in pairs of the same shape.

DRUGS = [("metformin", [500, 850, 1000], "mg"), ("amoxicillin", [250, 500], "mg"), ("lisinopril", [5, 10, 20], "mg"),
         ("atorvastatin", [10, 20, 40, 80], "mg"), ("sertraline", [50, 100], "mg"), ("omeprazole", [20, 40], "mg"),
         ("paracetamol", [500, 1000], "mg"), ("ibuprofen", [200, 400], "mg"), ("warfarin", [1, 3, 5], "mg"),
         ("levothyroxine", [25, 50, 100], "micrograms"), ("prednisolone", [5, 10, 40], "mg"),
         ("amlodipine", [5, 10], "mg"), ("furosemide", [20, 40, 80], "mg"), ("gabapentin", [100, 300], "mg"),
         ("insulin glargine", [10, 14, 20, 26], "units"), ("salbutamol", [100, 200], "micrograms"),
         ("morphine sulfate", [5, 10], "mg"), ("ceftriaxone", [1, 2], "g"), ("apixaban", [2.5, 5], "mg"),
         ("enoxaparin", [40, 80], "mg"), ("co-amoxiclav", [625], "mg"), ("doxycycline", [100], "mg"),
         ("fluoxetine", [20, 40], "mg"), ("clopidogrel", [75], "mg"), ("bisoprolol", [1.25, 2.5, 5], "mg"),
         ("ramipril", [2.5, 5, 10], "mg"), ("codeine", [30, 60], "mg"), ("nitrofurantoin", [100], "mg"),
         ("ondansetron", [4, 8], "mg"), ("allopurinol", [100, 300], "mg"), ("tramadol", [50], "mg"),
         ("cetirizine", [10], "mg"), ("folic acid", [5], "mg"), ("vitamin D3", [800, 1000], "units"),
         ("methotrexate", [7.5, 10, 15], "mg"), ("lithium carbonate", [400], "mg"), ("quetiapine", [25, 50], "mg"),
         ("diazepam", [2, 5], "mg"), ("aspirin", [75, 300], "mg"), ("tamsulosin", [400], "micrograms"),
         ("hydrocortisone cream 1%", [], ""), ("chlorhexidine mouthwash", [], ""), ("latanoprost eye drops", [], "")]
FORMS = ["tablet", "capsule", "tablets", "capsules", "puff", "puffs", "drop", "drops", "sachet", "injection"]
ROUTES = ["by mouth", "PO", "orally", "IV", "intravenously", "subcutaneously", "SC", "IM", "inhaled", "topically",
          "into the left eye", "under the tongue", "rectally", "via nebuliser", "per NG tube"]
FREQS = ["once daily", "twice daily", "three times a day", "four times a day", "every 8 hours", "every 6 hours",
         "at night", "in the morning", "OD", "BD", "TDS", "QDS", "nocte", "PRN", "every 4-6 hours as needed",
         "once weekly", "on alternate days", "with meals", "before breakfast", "stat"]
DURATIONS = ["for 5 days", "for 7 days", "for ten days", "for two weeks", "for 3 months", "until review",
             "until finished", "long term", "for 48 hours then review", ""]
CAUTIONS = ["Avoid alcohol during treatment.", "May cause drowsiness.",
            "Take with food.", "Swallow whole, do not chew.", "Avoid grapefruit juice.",
            "Seek advice if you develop a rash.", "Store in the fridge once opened.",
            "Do not take with other paracetamol-containing products.", "Store below 25 degrees.", "Check blood sugar before each dose.",
            "Report any unusual bleeding or bruising.", "Monitor renal function and potassium.",
            "Complete the full course even if you feel better.", "Rinse mouth after use.",
            "Hold if systolic blood pressure below 100.", "Recheck INR on Monday."]


def med_instruction(rng):
    name, doses, unit = rng.choice(DRUGS)
    dose = f"{rng.choice(doses):g} {unit}" if doses else ""
    form, route, freq, dur = rng.choice(FORMS), rng.choice(ROUTES), rng.choice(FREQS), rng.choice(DURATIONS)
    k = rng.randint(0, 9)
    if k == 0:
        t = f"{cap(name)} {dose} {route} {freq} {dur}."
    elif k == 1:
        t = f"Take {rng.choice(['one', 'two', '1', '2', 'half a'])} {form} {route} {freq} {dur}. {rng.choice(CAUTIONS)}"
    elif k == 2:
        t = f"Rx: {name} {dose} {rng.choice(['tab', 'cap', 'inj', 'susp'])} {freq} x {rng.randint(3, 30)}/7"
    elif k == 3:
        t = f"{cap(name)} dose {rng.choice(['increased', 'reduced', 'adjusted'])} to {dose} {freq}; {rng.choice(CAUTIONS).lower()}"
    elif k == 4:
        t = f"Start {name} {dose} {freq}, titrating to {rng.choice(['twice daily', 'three times a day', 'the full dose'])} after two weeks if tolerated."
    elif k == 5:
        t = f"{rng.choice(CAUTIONS)} {rng.choice(CAUTIONS)}"
        t = f"{cap(name)}: {t}"
    elif k == 6:
        t = f"Give {dose or '5 mL'} {route} {freq} {dur}; maximum {rng.choice([3, 4, 8])} doses in 24 hours."
    elif k == 7:
        t = f"Apply {rng.choice(['a small amount', 'one drop', 'two drops', 'a fingertip unit'])} of {name} {freq} {dur}."
    elif k == 8:
        t = f"Medications on discharge: {name} {dose} {freq}, {rng.choice(DRUGS)[0]} {freq}."
    else:
        t = f"{dose} {name} {route} {freq} - {rng.choice(['held', 'given', 'omitted', 'refused', 'due'])} at {rng.randint(6, 22):02d}:00"
    return re.sub(r"\s+([.;,])", r"\1", re.sub(r" +", " ", t)).strip()


# Non-medical imperatives with quantities, the same shape as dosing lines.
PRODUCTS = [("plain flour", "g"), ("caster sugar", "g"), ("olive oil", "tablespoons"), ("milk", "ml"), ("butter", "g"),
            ("rice", "cups"), ("stock", "ml"), ("lawn feed", "g per square metre"), ("tomato fertiliser", "ml"),
            ("liquid seaweed", "ml"), ("wood glue", "ml"), ("primer", "coats"), ("grout", "kg"), ("engine oil", "litres"),
            ("chain lube", "drops"), ("0.1 M hydrochloric acid", "mL"), ("sodium chloride", "g"), ("ethanol", "mL"),
            ("buffer solution", "mL"), ("concrete mix", "kg"), ("bleach", "ml"), ("dish soap", "drops"),
            ("coffee beans", "g"), ("yeast", "g"), ("salt", "teaspoons"), ("pool chlorine", "g"), ("slug pellets", "g"),
            ("rose food", "g"), ("bonsai feed", "drops"), ("epoxy resin", "ml")]
ACTIONS = ["Add", "Mix in", "Stir in", "Apply", "Dilute", "Sprinkle", "Pour in", "Measure out", "Spray", "Brush on"]
OTHER_FREQ = ["once a week", "twice a week", "every two weeks", "daily", "every morning", "at night", "monthly",
              "every 8 hours", "twice a year", "after each use", "every 5,000 km", "once the soil is dry"]
OTHER_CAUTIONS = ["Keep away from open flames.", "Wear gloves and eye protection.", "Do not overwater.",
                  "Let it dry for 24 hours.", "Store in a cool, dry place.", "Do not mix with other cleaners.",
                  "Store locked up.", "Work in a well-ventilated area.", "Serve immediately.",
                  "Do not exceed the stated amount.", "Check again after one week.", "Recalibrate the meter monthly."]


def other_instruction(rng):
    prod, unit = rng.choice(PRODUCTS)
    amount = rng.choice([1, 2, 3, 5, 10, 20, 25, 50, 100, 150, 200, 250, 500])
    k = rng.randint(0, 7)
    if k == 0:
        t = f"{rng.choice(ACTIONS)} {amount} {unit} of {prod} {rng.choice(OTHER_FREQ)}. {rng.choice(OTHER_CAUTIONS)}"
    elif k == 1:
        t = f"{cap(prod)} {amount} {unit} {rng.choice(OTHER_FREQ)} {rng.choice(['for 5 days', 'for two weeks', 'until spring', 'until set', ''])}."
    elif k == 2:
        t = f"{rng.choice(OTHER_CAUTIONS)} {rng.choice(OTHER_CAUTIONS)}"
    elif k == 3:
        t = (f"{rng.choice(['Bake', 'Simmer', 'Cure', 'Leave', 'Heat', 'Incubate', 'Charge'])} for {rng.randint(5, 90)} minutes "
             f"at {rng.choice([40, 60, 120, 160, 180, 200, 220])} degrees, then {rng.choice(['let it cool', 'stir well', 'check the colour', 'sand lightly', 'drain'])}.")
    elif k == 4:
        t = f"Increase to {amount} {unit} {rng.choice(OTHER_FREQ)} after two weeks if the {rng.choice(['plants', 'dough', 'finish', 'mixture', 'battery'])} looks healthy."
    elif k == 5:
        t = f"{rng.choice(['Restart', 'Reboot', 'Update', 'Reinstall'])} the {rng.choice(['router', 'app', 'printer driver', 'server', 'firmware'])} and check that port {rng.choice([22, 80, 443, 8080])} is open."
    elif k == 6:
        t = f"Shopping list: {prod} {amount} {unit}, {rng.choice(PRODUCTS)[0]}, {rng.choice(PRODUCTS)[0]}."
    else:
        t = f"Do not exceed {amount} {unit} of {prod} per {rng.choice(['day', 'litre', 'square metre', 'batch'])}. {rng.choice(OTHER_CAUTIONS)}"
    return re.sub(r"\s+([.;,])", r"\1", re.sub(r" +", " ", t)).strip()


AGES = lambda rng: rng.randint(18, 92)
SYMPTOMS = ["chest pain", "shortness of breath", "abdominal pain", "headache", "fever", "cough", "vomiting",
            "dizziness", "back pain", "a fall at home", "palpitations", "sore throat", "rash", "confusion",
            "leg swelling", "dysuria", "haematuria", "syncope", "wrist injury", "suicidal thoughts", "low mood",
            "blurred vision", "ear pain", "toothache", "burns to the hand", "wheeze", "diarrhoea"]
FINDINGS = ["obs stable", "afebrile", "BP 128/76, HR 82, RR 16, SpO2 97% RA", "chest clear", "abdomen soft, non-tender",
            "GCS 15", "mild erythema around the wound", "no focal neurology", "pain 4/10", "tolerating oral fluids",
            "catheter draining clear urine", "pressure areas intact", "bowels opened", "IV cannula re-sited",
            "crackles at the left base", "pedal oedema", "calf soft and non-tender", "pupils equal and reactive",
            "mobilising with a frame", "slept well overnight", "temp 38.4", "capillary refill under 2 seconds"]
PLANS = ["continue current management", "review by the team in the morning", "repeat bloods tomorrow",
         "chest X-ray requested", "refer to physiotherapy", "safety-netting advice given", "discharge if obs stable",
         "increase fluids", "analgesia as charted", "family updated", "for CT head", "wound care daily",
         "start antibiotics", "GP to follow up in two weeks", "nil by mouth from midnight", "urgent ECG"]


def clinical_note(rng):
    k = rng.randint(0, 7)
    sex = rng.choice(["M", "F", "male", "female", "man", "woman", "yo M", "yo F"])
    if k == 0:
        t = f"{AGES(rng)}{sex} c/o {rng.choice(SYMPTOMS)} x{rng.randint(1, 7)} days, {rng.choice(FINDINGS)}. Plan: {rng.choice(PLANS)}."
    elif k == 1:
        t = f"Nursing note {rng.randint(0, 23):02d}:{rng.choice(['00', '15', '30', '45'])}: {rng.choice(FINDINGS)}, {rng.choice(FINDINGS)}. {cap(rng.choice(PLANS))}."
    elif k == 2:
        t = f"S: {rng.choice(SYMPTOMS)} improving. O: {rng.choice(FINDINGS)}. A: {rng.choice(MEDICAL[rng.choice(list(MEDICAL))]['topic'])}. P: {rng.choice(PLANS)}."
    elif k == 3:
        t = f"Triage: {rng.choice(['cat 2', 'cat 3', 'ATS 3', 'priority 2', 'urgent'])}, {rng.choice(SYMPTOMS)}, onset {rng.randint(1, 12)} h ago, {rng.choice(FINDINGS)}."
    elif k == 4:
        t = f"Pt {rng.choice(['seen', 'reviewed', 'assessed'])} on ward round, {rng.choice(FINDINGS)}; {rng.choice(PLANS)}."
    elif k == 5:
        spec = MEDICAL[rng.choice(list(MEDICAL))]
        t = f"Impression: {rng.choice(spec['topic'])}. {cap(rng.choice(PLANS))}, {rng.choice(PLANS)}."
    elif k == 6:
        t = f"Presented with {rng.choice(SYMPTOMS)} and {rng.choice(SYMPTOMS)}; {rng.choice(FINDINGS)}, {rng.choice(FINDINGS)}."
    else:
        t = f"Phone call from daughter: {rng.choice(['mum', 'dad', 'patient'])} more {rng.choice(['confused', 'breathless', 'drowsy', 'unsteady'])} since yesterday, advised to attend the emergency department."
    return t


LAB_TESTS = [("Hb", "g/dL", 7, 17, 1), ("WCC", "x10^9/L", 2, 25, 1), ("Plt", "x10^9/L", 40, 600, 0),
             ("Na", "mmol/L", 125, 150, 0), ("K", "mmol/L", 2.8, 6.5, 1), ("Creat", "umol/L", 45, 400, 0),
             ("Urea", "mmol/L", 2, 30, 1), ("CRP", "mg/L", 1, 300, 0), ("ALT", "U/L", 8, 400, 0),
             ("Bili", "umol/L", 3, 90, 0), ("INR", "", 0.9, 5, 1), ("HbA1c", "mmol/mol", 35, 110, 0),
             ("TSH", "mU/L", 0.1, 12, 2), ("Troponin", "ng/L", 2, 900, 0), ("eGFR", "mL/min", 10, 90, 0),
             ("glucose", "mmol/L", 3, 25, 1), ("lactate", "mmol/L", 0.5, 8, 1), ("ferritin", "ug/L", 5, 900, 0),
             ("pH", "", 7.1, 7.5, 2), ("pCO2", "kPa", 3, 9, 1), ("D-dimer", "ng/mL", 100, 3000, 0),
             ("albumin", "g/L", 20, 48, 0), ("LDL", "mmol/L", 1, 6, 1), ("PSA", "ng/mL", 0.2, 20, 1)]
OTHER_TESTS = [("pH", "", 5.5, 9, 1), ("turbidity", "NTU", 0.1, 20, 1), ("conductivity", "uS/cm", 50, 1500, 0),
               ("nitrate", "mg/L", 0, 50, 1), ("free chlorine", "mg/L", 0, 3, 2), ("hardness", "mg/L CaCO3", 20, 400, 0),
               ("soil P", "mg/kg", 5, 80, 0), ("soil K", "mg/kg", 50, 400, 0), ("organic matter", "%", 1, 9, 1),
               ("yield strength", "MPa", 200, 900, 0), ("elongation", "%", 5, 40, 0), ("hardness", "HRC", 20, 65, 0),
               ("CPU", "%", 5, 100, 0), ("p99 latency", "ms", 20, 900, 0), ("disk", "% used", 20, 99, 0),
               ("error rate", "%", 0, 5, 2), ("revenue", "$M", 1, 90, 1), ("EBITDA margin", "%", 2, 40, 0),
               ("wind", "km/h", 0, 90, 0), ("pressure", "hPa", 960, 1040, 0), ("humidity", "%", 20, 100, 0),
               ("PM2.5", "ug/m3", 2, 150, 0), ("oil pressure", "bar", 1, 6, 1), ("coolant temp", "C", 70, 110, 0),
               ("moisture content", "%", 8, 30, 0), ("slump", "mm", 50, 200, 0), ("compressive strength", "MPa", 20, 60, 0),
               ("battery", "V", 11, 14.5, 1), ("tyre pressure", "psi", 25, 40, 0), ("voltage", "V", 210, 245, 0)]


def result_line(rng, tests, medical):
    picks = rng.sample(tests, rng.randint(2, 6))
    parts = []
    for name, unit, lo, hi, dec in picks:
        val = number(rng, lo, hi, dec)
        flag = rng.choice(["", "", "", " (H)", " (L)", " *"])
        parts.append(f"{name} {val}{(' ' + unit) if unit else ''}{flag}")
    sep = rng.choice([", ", "; ", " | ", "  "])
    head = rng.choice(["", "", "Results: ", "Today: ", f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}: "] +
                      (["Bloods: ", "Labs: ", "ABG: ", "U&E: "] if medical else
                       ["Sample 3: ", "Test log: ", "Monitoring: ", "Station 12: ", "Batch 7: "]))
    tail = rng.choice(["", "", "", " Repeat in the morning." if medical else " Repeat next week.",
                       " Discussed with the registrar." if medical else " Logged by the duty engineer."])
    return head + sep.join(parts) + tail


LOG_OBJECTS = ["pump 3", "the boiler", "server db-02", "conveyor belt B", "the backup generator", "the north wall",
               "line 2", "the compressor", "the rooftop unit", "the forklift", "the main switchboard", "the kiln",
               "site 4", "plot 12", "the weather station", "bridge pier 6", "the router in room 214", "the press brake"]
LOG_FINDINGS = ["bearing noise", "minor oil leak", "no faults found", "disk usage 91%", "filter blocked",
                "vibration within limits", "hairline crack in the render", "belt tension adjusted", "soil moist",
                "12 seedlings counted", "fan replaced", "firmware updated", "temperature 4 degrees above setpoint",
                "corrosion on the bolts", "logs rotated", "paint peeling", "voltage dip at 02:14", "water ingress"]
LOG_PLANS = ["recheck in one week", "order replacement part", "monitor overnight", "escalate to vendor",
             "schedule shutdown for Friday", "no further action", "inform the site manager", "update the ticket",
             "lubricate monthly", "repeat survey in spring", "replace at next service", "reboot if it recurs"]
TICKET_ISSUES = ["VPN drops every 10 minutes", "printer offline", "laptop will not boot", "password reset",
                 "email not syncing", "flat tyre on the motorway", "engine warning light", "leaking roof",
                 "no hot water", "card payment declined", "parcel not delivered", "website returns error 502"]


def other_log(rng):
    k = rng.randint(0, 5)
    if k == 0:
        t = f"{cap(rng.choice(LOG_OBJECTS))} inspected, {rng.choice(LOG_FINDINGS)}, {rng.choice(LOG_FINDINGS)}. Plan: {rng.choice(LOG_PLANS)}."
    elif k == 1:
        t = f"Shift log {rng.randint(0, 23):02d}:{rng.choice(['00', '15', '30', '45'])}: {rng.choice(LOG_FINDINGS)}, {rng.choice(LOG_FINDINGS)}. {cap(rng.choice(LOG_PLANS))}."
    elif k == 2:
        t = f"Ticket: {rng.choice(['priority 2', 'P3', 'urgent', 'sev 1'])}, {rng.choice(TICKET_ISSUES)}, since {rng.randint(1, 12)} h ago, {rng.choice(LOG_FINDINGS)}."
    elif k == 3:
        t = f"Customer called: {rng.choice(TICKET_ISSUES)}; advised to {rng.choice(['restart the device', 'wait for the engineer', 'visit the branch', 'check the fuse box'])}."
    elif k == 4:
        t = f"{rng.choice(['Field notes', 'Site visit', 'Inspection'])}, {rng.choice(LOG_OBJECTS)}: {rng.choice(LOG_FINDINGS)}; {rng.choice(LOG_PLANS)}."
    else:
        t = f"Reviewed {rng.choice(LOG_OBJECTS)} on the morning round, {rng.choice(LOG_FINDINGS)}; {rng.choice(LOG_PLANS)}."
    return t


# Second-person advice: patient-facing health text (leaflets, websites, discharge advice) and advice of
# the same shape from travel, money, software, home, cooking and car care, so that person and mood are no cue.
HEALTH_CONDITIONS = ["chest pain", "a high temperature", "shortness of breath", "a rash that does not fade", "diarrhoea",
                     "a headache", "back pain", "a urine infection", "hay fever", "heartburn", "an asthma attack",
                     "a cough", "earache", "a sprained ankle", "cold sores", "a migraine", "high blood pressure",
                     "diabetes", "a burn", "morning sickness", "insomnia", "a nosebleed", "conjunctivitis",
                     "tonsillitis", "gout", "anxiety", "head lice", "a chest infection", "sunburn", "constipation"]
HEALTH_ACTIONS = ["call 999", "call 911", "call your GP surgery", "go to A&E", "ring NHS 111", "see a pharmacist",
                  "speak to your midwife", "contact your diabetes nurse", "book an appointment with your doctor",
                  "ask your pharmacist for advice", "get an urgent appointment", "go to an urgent care centre"]
HEALTH_WARNINGS = ["the pain spreads to your arm, jaw or back", "you are coughing up blood", "your lips turn blue",
                   "you feel faint or confused", "the symptoms last more than a week", "you are pregnant",
                   "your child is under 3 months old", "you have a stiff neck and a rash", "you cannot keep fluids down",
                   "the swelling gets worse", "you see blood in your urine", "you lose weight without trying",
                   "your blood sugar stays above 15", "you notice a new lump", "your vision suddenly changes"]
HEALTH_ADVICE = ["Drink plenty of fluids and rest.", "Take paracetamol or ibuprofen to ease the pain.",
                 "Wash your hands often and do not share towels.", "Stay off school or work until 48 hours after the last episode.",
                 "Use a saline spray to clear your nose.", "Keep the wound clean and dry.",
                 "Raise the injured leg on a pillow and use an ice pack.", "Avoid spicy food, alcohol and large meals late at night.",
                 "Check your feet every day for cuts or blisters.", "Do not stop taking your inhaler without talking to your doctor.",
                 "Breastfeeding can continue while you take this antibiotic.", "Get vaccinated against flu every autumn.",
                 "You may feel tired for a day or two after the vaccine.", "Try to eat five portions of fruit and vegetables a day.",
                 "Measure your blood pressure at the same time each morning.", "Most coughs clear up within three weeks.",
                 "Your stitches will dissolve on their own in about ten days.", "Bring a list of your medicines to the appointment.",
                 "Tell the nurse if you are allergic to penicillin.", "Do not drive for 24 hours after the sedation."]
OTHER_PROBLEMS = ["a cancelled flight", "a lost passport", "a late payment", "a declined card", "a frozen laptop", "a blocked drain",
                  "a flat battery", "a burst pipe", "a forgotten password", "a noisy boiler", "a missed parcel", "a warning light on the dashboard",
                  "a dripping tap", "a cracked screen", "an overdrawn account", "a lost luggage claim", "a power cut", "a parking fine",
                  "a slow internet connection", "a collapsed cake", "a jammed printer", "a tax return", "a leaking roof", "a dead houseplant"]
OTHER_ACTIONS = ["call your bank", "contact the airline", "ring the helpline", "call a plumber", "ask at the front desk",
                 "contact your insurer", "call roadside assistance", "email customer support", "visit the branch",
                 "call the emergency gas line", "ask your landlord", "contact the embassy", "book a service at the garage"]
OTHER_WARNINGS = ["you smell gas", "the water is brown", "you see smoke from the engine", "the app asks for your PIN",
                  "the delay is more than three hours", "your card has been used abroad", "the fuse keeps tripping",
                  "the screen stays black", "the dough has not risen after two hours", "you have not heard back within a week",
                  "the tyre looks flat", "the ceiling is wet", "the update fails twice"]
OTHER_ADVICE = ["Keep your receipts and boarding pass.", "Turn it off and on again before you call.",
                "Back up your files before you update.", "Pack a spare charger and a copy of your passport.",
                "Pay off the card with the highest interest first.", "Let the pan heat up before you add the oil.",
                "Water the plant only when the top of the soil is dry.", "Keep a blanket and water in the car in winter.",
                "Check the weather forecast before you set off.", "Use a password manager and turn on two-step login.",
                "Read the terms before you sign the contract.", "Leave the meat to rest for ten minutes before carving.",
                "Bleed the radiators once a year.", "Set up a direct debit so you never miss a payment.",
                "Arrive at the airport two hours before departure.", "Rinse the brushes in warm soapy water after painting.",
                "Save at least three months of expenses for emergencies.", "Clear the browser cache and try again.",
                "Keep the lid on while the rice steams.", "Bring photo ID to the polling station."]


def advice(rng, medical):
    cond, act, warn, adv = ((HEALTH_CONDITIONS, HEALTH_ACTIONS, HEALTH_WARNINGS, HEALTH_ADVICE) if medical else
                            (OTHER_PROBLEMS, OTHER_ACTIONS, OTHER_WARNINGS, OTHER_ADVICE))
    k = rng.randint(0, 6)
    if k == 0:
        t = f"If you have {rng.choice(cond)}, {rng.choice(act)}."
    elif k == 1:
        t = f"{cap(rng.choice(act))} straight away if {rng.choice(warn)}."
    elif k == 2:
        t = f"{rng.choice(adv)} {rng.choice(adv)}"
    elif k == 3:
        t = f"What to do about {rng.choice(cond)}: {rng.choice(adv).lower()} {cap(rng.choice(act))} if {rng.choice(warn)}."
    elif k == 4:
        t = f"You should {rng.choice(act)} if {rng.choice(warn)} or if {rng.choice(warn)}."
    elif k == 5:
        t = f"Dealing with {rng.choice(cond)}? {rng.choice(adv)}"
    else:
        t = f"{rng.choice(adv)} If {rng.choice(warn)}, {rng.choice(act)}."
    return t


# ---------------------------------------------------------------------------------------------------

PUNCT = re.compile("[" + re.escape(string.punctuation) + "]")


def vary(text, rng):
    """Case and punctuation, drawn the same way for both classes (as relevance_data.vary for short texts)."""
    u = rng.random()
    if u < 0.15:
        return text.lower()
    if u < 0.25:
        return re.sub(r"\s+", " ", PUNCT.sub(" ", text)).strip()
    if u < 0.33:
        return re.sub(r"\s+", " ", PUNCT.sub(" ", text.lower())).strip()
    if u < 0.37:
        return text.upper()
    if u < 0.45 and len(text.split()) <= 16:
        return string.capwords(text)
    return text


def one(rng, medical):
    """One authored text of the given class."""
    fields = MEDICAL if medical else NON_MEDICAL
    name = rng.choice(list(fields))
    field = fields[name]
    u = rng.random()
    if u < 0.30:
        kind, text = "title", fill(rng.choice(TITLES), field, rng)
    elif u < 0.52:
        kind, text = "sentence", fill(rng.choice(SENTENCES), field, rng)
    elif u < 0.64:
        kind, text = "field_sentence", fill(rng.choice(field["sentence"]), field, rng)
    elif u < 0.74:
        kind, text = "instruction", med_instruction(rng) if medical else other_instruction(rng)
    elif u < 0.84:
        kind, text = "advice", advice(rng, medical)
    elif u < 0.93:
        kind, text = "note", clinical_note(rng) if medical else other_log(rng)
    else:
        kind, text = "results", result_line(rng, LAB_TESTS if medical else OTHER_TESTS, medical)
    if rng.random() < 0.25 and kind in ("sentence", "field_sentence", "note"):  # two in a row
        text += " " + (fill(rng.choice(SENTENCES), field, rng) if kind != "note" else
                       (clinical_note(rng) if medical else other_log(rng)))
    return {"source": f"synthetic_{kind}", "field": name, "text": vary(text, rng), "score": 5.0 if medical else 1.0}


def rows(per_class, rng):
    out = [one(rng, True) for _ in range(per_class)] + [one(rng, False) for _ in range(per_class)]
    rng.shuffle(out)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--per-class", type=int, default=2000)
    p.add_argument("--seed", type=int, default=23)
    a = p.parse_args()
    with open(a.out, "w", encoding="utf-8") as f:
        for r in rows(a.per_class, random.Random(a.seed)):
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
