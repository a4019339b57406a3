"""Demo data: customer-support messages in six categories, generated from varied templates.

Categories share much of their vocabulary (order, account, payment, app) so a bag of single words is
not enough on its own; phrases decide."""

from __future__ import annotations

import numpy as np

from mlops.algorithms.base import Sample
from mlops.algorithms.image_classification.demo import stratified_purposes

_SLOTS: dict[str, list[str]] = {
    "product": [
        "blender",
        "headphones",
        "desk lamp",
        "running shoes",
        "coffee grinder",
        "backpack",
        "phone case",
        "air purifier",
        "yoga mat",
        "kettle",
        "monitor stand",
        "winter jacket",
    ],
    "days": ["two", "three", "five", "ten", "several", "almost fourteen"],
    "amount": ["$19.99", "$45", "$120.50", "$7.80", "$310", "€64", "£22.40"],
    "device": ["iPhone", "Android phone", "laptop", "tablet", "Windows PC", "Mac"],
    "error": [
        "error 500",
        "a blank screen",
        "a spinning wheel",
        "'something went wrong'",
        "a timeout",
        "code E-1042",
    ],
    "carrier": ["the courier", "UPS", "DHL", "the post office", "FedEx"],
}

_TEMPLATES: dict[str, list[str]] = {
    "billing": [
        "I was charged twice for order {order}, {amount} shows up two times on my card statement.",
        "Why does my invoice say {amount} when the checkout total was lower?",
        "My card was billed {amount} for a subscription I cancelled last month.",
        "Can you send me a proper invoice with our VAT number for order {order}?",
        "The payment went through but my bank shows a pending charge of {amount} as well.",
        "I see an unexpected charge of {amount} on my account, what is it for?",
        "Please update the billing address on my invoices, the company moved.",
        "The discount code was not applied and I paid the full price of {amount}.",
    ],
    "delivery": [
        "My {product} still has not arrived after {days} days, order {order}.",
        "Tracking for order {order} has not updated in {days} days, is the parcel lost?",
        "{carrier} says the package was delivered but there is nothing at my door.",
        "Can I change the shipping address for order {order}? It has not shipped yet.",
        "When will my {product} be delivered? The estimate passed {days} days ago.",
        "The parcel with my {product} arrived crushed and the box was open.",
        "Is express shipping available to my area for the {product}?",
        "{carrier} left a note but I was home all day, how do I reschedule the delivery?",
    ],
    "technical_issue": [
        "The app crashes on my {device} every time I open the order history.",
        "I get {error} when I try to check out on my {device}.",
        "The website shows {error} after I log in, on every browser I tried.",
        "Notifications stopped working in the app on my {device} since the last update.",
        "The page freezes with {error} when I upload a photo for a review.",
        "Search returns {error} for any product I type, including the {product}.",
        "The app on my {device} is extremely slow and then shows {error}.",
        "Checkout button does nothing on my {device}, no error message, just nothing.",
    ],
    "account_access": [
        "I cannot log in to my account, the password reset email never arrives.",
        "My account is locked after too many attempts, please unlock it.",
        "How do I change the email address on my account? I no longer use the old one.",
        "I think someone else logged into my account, I see orders I did not place.",
        "The two-factor code is not accepted when I sign in from my {device}.",
        "Please delete my account and all my personal data.",
        "I forgot my username and the recovery link says it expired.",
        "Can I merge my two accounts? I have orders on both.",
    ],
    "returns": [
        "I would like to return the {product} from order {order}, it does not fit.",
        "How do I get a refund for the {product}? I sent it back {days} days ago.",
        "The {product} I received is defective, I want to send it back for a replacement.",
        "Can you email me a return label for order {order}?",
        "My refund of {amount} for the returned {product} has not reached my card yet.",
        "Is it too late to return the {product}? I bought it {days} weeks ago.",
        "I returned the wrong item by mistake, can you send the {product} back to me?",
        "You sent me the wrong size {product}, I want to exchange it.",
    ],
    "product_question": [
        "Is the {product} compatible with European power outlets?",
        "What material is the {product} made of? I have a latex allergy.",
        "Does the {product} come with a warranty, and for how long?",
        "Will the {product} be back in stock soon? It has been sold out for {days} weeks.",
        "What are the dimensions of the {product}? The listing does not say.",
        "Is there a bigger version of the {product} available?",
        "Can the {product} be washed in a machine?",
        "How loud is the {product}? I want to use it at night.",
    ],
}

_OPENINGS = ["", "", "Hi, ", "Hello, ", "Hi team, ", "Good morning. ", "Hey, ", "Dear support, "]
_CLOSINGS = [
    "",
    "",
    " Thanks.",
    " Thank you!",
    " Please help.",
    " Regards, Sam",
    " Thanks in advance.",
    " This is urgent.",
    " I have been a customer for years.",
]

LABELS = sorted(_TEMPLATES)


def _roughen(text: str, rng: np.random.Generator) -> str:
    """Hurried writing: dropped words and swapped letters."""
    words = []
    for word in text.split():
        draw = rng.random()
        if draw < 0.1:
            continue
        if draw < 0.16 and len(word) > 3:
            i = int(rng.integers(len(word) - 1))
            word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        words.append(word)
    return " ".join(words)


def support_messages(seed: int = 0, per_label: int = 250) -> list[Sample]:
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    labels: list[str] = []
    for label in LABELS:
        for _ in range(per_label):
            template = _TEMPLATES[label][int(rng.integers(len(_TEMPLATES[label])))]
            slots = {name: values[int(rng.integers(len(values)))] for name, values in _SLOTS.items()}
            slots["order"] = f"#{int(rng.integers(10000, 99999))}"
            text = _roughen(template.format(**slots), rng)
            if rng.random() < 0.15:
                # Real messages wander: a side remark from another category, the label stays the first.
                other = LABELS[int(rng.integers(len(LABELS)))]
                text += (
                    " Also, " + _roughen(_TEMPLATES[other][int(rng.integers(8))].format(**slots), rng).lower()
                )
            text = _OPENINGS[int(rng.integers(len(_OPENINGS)))] + text
            texts.append(text + _CLOSINGS[int(rng.integers(len(_CLOSINGS)))])
            labels.append(label)
    purposes = stratified_purposes(labels, seed)
    return [
        Sample(
            key=f"support/{i:05d}.txt",
            content=t.encode(),
            annotation=label,
            purpose=p,
            media_type="text/plain",
        )
        for i, (t, label, p) in enumerate(zip(texts, labels, purposes, strict=True))
    ]
