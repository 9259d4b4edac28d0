"""The word lists the wording checker uses (followups.wording_check), kept as data.

How an entry matches: whole words, any case. A space or hyphen inside an entry
matches any run of spaces or hyphens ("no show" finds "no-show" and "No  Show"),
and an apostrophe matches a straight or a curly one. There is no stemming: list
every form to be found. That is what keeps "charge" from finding "Charlotte" and
"late" from finding "lately".

Which lists block and which only warn, for which kind of message, is decided in
wording_check.RULESETS; docs/decisions.md says why each list holds what it does.
"""

# Money and the cancellation terms. Blocked in a first message: the client hears
# from us because we care, not because a fee is due. Later messages may state the
# terms. "fine" and "bill" are left out on purpose ("it's fine", "Bill" is a name).
MONEY = (
    "fee",
    "fees",
    "charge",
    "charges",
    "charged",
    "charging",
    "chargeable",
    "policy",
    "policies",
    "cancellation terms",
    "payment",
    "payments",
    "pay",
    "paid",
    "paying",
    "payable",
    "owe",
    "owed",
    "owing",
    "invoice",
    "invoices",
    "invoiced",
    "billed",
    "billing",
    "cost",
    "costs",
    "price",
    "refund",
    "deposit",
    "penalty",
    "penalties",
    "card on file",
    "credit card",
    "dollar",
    "dollars",
    "euro",
    "euros",
    "cents",
    "usd",
    "eur",
    "gbp",
    "cad",
    "aud",
    "nzd",
    "chf",
)

# Regular expressions for money that is not a word: currency symbols and amounts
# written with decimals ("50.00", "1,250.50"; a phone number like 555.0100 is not one).
MONEY_PATTERNS = (
    r"[$€£¥₹₩₽₪₺₴₦₱]",
    r"(?<![\d.,])\d[\d,]*[.,]\d{2}(?!\d)",
)

# Blame: it assumes why the session was missed, or counts it against the client.
# Blocked in every kind of message.
BLAME = (
    "failed to",
    "fail to",
    "failure to",
    "didn't bother",
    "did not bother",
    "couldn't be bothered",
    "no show",
    "no shows",
    "no showed",
    "noshow",
    "no call",
    "didn't show",
    "did not show",
    "didn't turn up",
    "did not turn up",
    "didn't attend",
    "did not attend",
    "non attendance",
    "nonattendance",
    "absent",
    "absence",
    "absences",
    "forgot",
    "forgotten",
    "neglected",
    "ignored",
    "irresponsible",
    "unacceptable",
    "inconsiderate",
    "disrespectful",
    "careless",
    "excuse",
    "excuses",
    "wasted",
    "waste of",
    "your fault",
    "at fault",
    "blame",
    "skipped",
    "should have",
    "disappointed",
    "disappointing",
)

# Clinical and diagnostic words: anyone who sees the screen (a lock screen, a
# shared inbox) learns about the client's health. Blocked in every kind.
CLINICAL = (
    "diagnosis",
    "diagnoses",
    "diagnosed",
    "diagnostic",
    "prognosis",
    "symptom",
    "symptoms",
    "disorder",
    "disorders",
    "depression",
    "depressed",
    "depressive",
    "anxiety",
    "panic attack",
    "panic attacks",
    "bipolar",
    "manic",
    "mania",
    "ptsd",
    "trauma",
    "traumatic",
    "ocd",
    "adhd",
    "autism",
    "autistic",
    "schizophrenia",
    "psychosis",
    "psychotic",
    "anorexia",
    "bulimia",
    "phobia",
    "insomnia",
    "addiction",
    "addicted",
    "substance use",
    "substance abuse",
    "alcoholism",
    "relapse",
    "self harm",
    "suicide",
    "suicidal",
    "overdose",
    "medication",
    "medications",
    "prescription",
    "psychiatric",
    "psychiatrist",
    "mental illness",
    "mental health",
    "dsm",
    "icd",
)

# The kind of session (appointments.Appointment.SessionType), which can tell others
# about the client's care. Blocked in a first message.
SESSION_TYPES = (
    "intake",
    "intakes",
    "couples",
    "family session",
    "family sessions",
    "family therapy",
    "group session",
    "group sessions",
    "group therapy",
    "individual session",
    "individual therapy",
)

# "family" and "group" alone are everyday words ("you and your family"): only a
# warning, so the person editing checks they do not name the kind of session.
SESSION_TYPE_WORDS = ("family", "group")

# Words that name care. The client knows they are in therapy, but others may see
# the message; the neutral sender name exists for that reason. A warning, not a
# block: some practices choose "your therapist" knowingly.
CARE = (
    "therapy",
    "therapies",
    "therapist",
    "therapists",
    "therapeutic",
    "psychotherapy",
    "psychotherapist",
    "psychologist",
    "counselling",
    "counseling",
    "counsellor",
    "counselor",
    "treatment",
    "clinic",
    "clinician",
    "patient",
)

# Untrue for a session that has not started yet: a late cancel's message, a
# reminder, and any kind that can follow a late cancel. A warning.
NOT_YET_TRUE = (
    "missed",
    "missing",
    "didn't make it",
    "did not make it",
    "not to see you",
    "weren't able to make it",
    "couldn't make it",
)

# Doubtful: can read as keeping score or as blame. A warning in every kind.
DOUBTFUL = (
    "late",
    "again",
    "repeated",
    "repeatedly",
    "warning",
    "reminder that",
    "as you know",
)
