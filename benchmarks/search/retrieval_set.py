# ruff: noqa: E501  (a data file: one document or question per string)
"""A labelled retrieval set written for FileIntel (public domain): 60 short documents from
six handbooks, and for each one two questions whose answer is that document's only chunk.

- a **keyword** question uses the document's own words;
- a **paraphrase** asks the same with other words (few shared content words), the case a
  bag of words cannot solve.

The documents of one handbook share their vocabulary ("loan", "fee", "member"...), so the
words a question shares with the wrong documents are many: the set is not solved by
topic alone. ``benchmarks/search`` measures every search method on it; a test in
``tests/search`` checks the shipped default at a small scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Item:
    """One document and its two questions."""

    name: str
    text: str
    keyword: str
    paraphrase: str


# (name, text, keyword question, paraphrase question)
_ITEMS: list[tuple[str, str, str, str]] = [
    # --- a public library -----------------------------------------------------------------
    (
        "library-refunds",
        "Refund policy. Members who paid for a lost item and later find it may return it within ninety days and receive their payment back in full, minus a small processing charge.",
        "refund policy for lost items",
        "I paid for a book I misplaced and then found it, can I get my money back?",
    ),
    (
        "library-late-fees",
        "Overdue charges. Items returned after their due date accrue a fine of twenty cents per day, capped at the replacement cost of the item. Children's cards are exempt.",
        "overdue fine per day",
        "how much does it cost if I bring something back too late?",
    ),
    (
        "library-opening",
        "Opening hours. The branch is open from nine to eight on weekdays and from ten to four on Saturdays; it is closed on Sundays and public holidays.",
        "branch opening hours on Saturdays",
        "when can I visit at the weekend?",
    ),
    (
        "library-cards",
        "Membership cards. Anyone living or working in the county can register for a card by showing photo identification and proof of address at the front desk.",
        "register for a membership card",
        "what do I need to bring to sign up?",
    ),
    (
        "library-holds",
        "Reservations. A member may place up to ten holds at once; when a reserved title arrives it is kept on the pickup shelf for seven days before going to the next person.",
        "how many holds can a member place",
        "how long will something I asked to be set aside wait for me?",
    ),
    (
        "library-printing",
        "Printing and copying. Black and white pages cost ten cents and colour pages fifty cents; jobs are released at the print station with a member card.",
        "cost of colour printing pages",
        "what do they charge to put my document on paper?",
    ),
    (
        "library-wifi",
        "Wireless network. The free wireless network needs no password; sessions end after four hours and large downloads are throttled in the evening.",
        "free wireless network password",
        "is there internet access for my laptop?",
    ),
    (
        "library-meeting-rooms",
        "Meeting rooms. Community groups can book the two meeting rooms up to a month ahead; bookings are free for non-profit groups and must end before closing time.",
        "book a meeting room for a community group",
        "can our club reserve a space to gather?",
    ),
    (
        "library-donations",
        "Donations. Gifts of books in good condition are accepted on Tuesday mornings; what the collection cannot use is sold at the annual sale to fund programmes.",
        "book donations accepted on Tuesday",
        "where can I give away the novels I no longer want?",
    ),
    (
        "library-interlibrary",
        "Interlibrary loan. Titles the branch does not own can be borrowed from partner libraries; requests usually take two weeks and a two dollar fee applies.",
        "interlibrary loan request fee",
        "the branch lacks the title I need, can it be fetched from elsewhere?",
    ),
    # --- an online shop -------------------------------------------------------------------
    (
        "shop-returns",
        "Returns. Unworn goods may be sent back within thirty days of delivery in their original packaging; the return label is printed from your order page.",
        "return goods within thirty days",
        "I changed my mind about a purchase, can I send it back?",
    ),
    (
        "shop-shipping",
        "Shipping times. Standard parcels arrive in three to five working days; express delivery arrives the next working day when ordered before two in the afternoon.",
        "express delivery next working day",
        "how quickly will my parcel get to me?",
    ),
    (
        "shop-payment",
        "Payment methods. We accept credit and debit cards, bank transfers and gift vouchers; cash on delivery is not available.",
        "accepted payment methods credit cards",
        "how can I pay for what I buy?",
    ),
    (
        "shop-warranty",
        "Warranty. Electrical products carry a two year warranty against manufacturing defects; accidental damage and normal wear are not covered.",
        "two year warranty on electrical products",
        "my kettle broke after a year, will they repair or replace it?",
    ),
    (
        "shop-sizes",
        "Size guide. Measure your chest and waist with a soft tape and compare with the chart; if you are between sizes, choose the larger one.",
        "size guide chart chest and waist",
        "how do I know which fit of shirt to order?",
    ),
    (
        "shop-tracking",
        "Order tracking. A tracking number is emailed when the parcel leaves the warehouse; follow it on the carrier's website to see where the package is.",
        "tracking number emailed when parcel leaves",
        "where is my package right now?",
    ),
    (
        "shop-cancel",
        "Cancelling an order. An order can be cancelled free of charge until it is packed; after that it must be returned once it arrives.",
        "cancel an order before it is packed",
        "can I stop a purchase I just made?",
    ),
    (
        "shop-discounts",
        "Discount codes. One promotional code can be applied per order at checkout; codes cannot be combined or exchanged for cash.",
        "apply a promotional discount code at checkout",
        "can I use two coupons on the same purchase?",
    ),
    (
        "shop-account",
        "Account deletion. To close your account, write to customer service; your personal data is erased within thirty days except invoices we must keep by law.",
        "close account personal data erased",
        "how do I get them to forget everything about me?",
    ),
    (
        "shop-gift-wrap",
        "Gift wrapping. For three dollars an item is wrapped in recycled paper with a handwritten card; prices are hidden from the packing slip.",
        "gift wrapping with handwritten card",
        "can the present be made pretty before it is sent?",
    ),
    # --- an office IT handbook ------------------------------------------------------------
    (
        "it-password",
        "Password reset. If you forget your password, use the self-service portal; after three wrong attempts the account is locked for fifteen minutes.",
        "reset a forgotten password on the portal",
        "I cannot remember how to log in, what now?",
    ),
    (
        "it-vpn",
        "Remote access. Staff working from home connect through the VPN client with their badge number and a one-time code from the authenticator app.",
        "connect through the VPN client from home",
        "how do I reach the office systems while travelling?",
    ),
    (
        "it-laptop",
        "Laptop replacement. Laptops are replaced every four years; a broken device is swapped at the service desk the same day if a spare is in stock.",
        "laptop replaced every four years",
        "my computer died, when do I get a new one?",
    ),
    (
        "it-backup",
        "Backups. Files saved on the shared drive are copied every night and kept for ninety days; files on the desktop of your own machine are not copied.",
        "shared drive backups kept ninety days",
        "if I delete a document by mistake can it be recovered?",
    ),
    (
        "it-phishing",
        "Suspicious email. Do not open attachments from unknown senders; forward the message to the security team and delete it from your inbox.",
        "report suspicious email attachments",
        "I received a strange message asking for my bank details, what should I do?",
    ),
    (
        "it-printer",
        "Printer setup. Network printers are added from the settings menu by searching for the floor number; colour printing needs a manager's approval.",
        "add a network printer from settings",
        "how do I get my machine to talk to the copier on my level?",
    ),
    (
        "it-software",
        "Software requests. Programs not in the company catalogue are requested through a ticket; licences are approved by the budget owner within a week.",
        "request software not in the catalogue",
        "I need an application that is not installed, how do I obtain it?",
    ),
    (
        "it-mfa",
        "Two-factor authentication. Every account must enrol a second factor; a lost phone is reported to the service desk, which issues temporary codes.",
        "enrol two-factor authentication second factor",
        "I lost my mobile and cannot sign in, who helps?",
    ),
    (
        "it-video",
        "Video meetings. Conference rooms have cameras and speakerphones; book the room in the calendar and the meeting link starts automatically.",
        "conference room cameras and meeting link",
        "how do I set up a call with colleagues in other cities?",
    ),
    (
        "it-storage",
        "Mailbox quota. Each mailbox holds fifty gigabytes; when it is nearly full, archive old messages to the archive folder.",
        "mailbox quota fifty gigabytes",
        "my inbox says it has no space left",
    ),
    # --- a clinic -------------------------------------------------------------------------
    (
        "clinic-appointments",
        "Appointments. Consultations are booked by phone or online; cancel at least a day ahead or a missed appointment fee is charged.",
        "book a consultation and cancellation fee",
        "how do I arrange to see the doctor?",
    ),
    (
        "clinic-vaccines",
        "Vaccinations. Flu shots are given every autumn to patients over sixty-five and to those with chronic illness, without an appointment on Friday mornings.",
        "flu shots every autumn",
        "when can older people get their yearly jab?",
    ),
    (
        "clinic-prescriptions",
        "Repeat prescriptions. Request repeat medication through the patient portal at least three working days before you run out.",
        "repeat prescriptions through the patient portal",
        "how do I get more of my regular pills?",
    ),
    (
        "clinic-results",
        "Test results. Blood test results are usually ready after five days; a nurse phones you only if something needs attention.",
        "blood test results ready after five days",
        "when will I hear back about the samples they took?",
    ),
    (
        "clinic-emergency",
        "Emergencies. For chest pain, difficulty breathing or heavy bleeding call the emergency number at once; do not wait for a clinic appointment.",
        "chest pain call the emergency number",
        "someone collapsed and can't breathe, what do I do?",
    ),
    (
        "clinic-records",
        "Medical records. Patients may ask for a copy of their records in writing; copies are provided free within one month.",
        "copy of medical records in writing",
        "can I see what the physician has written about me?",
    ),
    (
        "clinic-children",
        "Children's health. Babies are weighed and measured at the well-baby sessions on Wednesday afternoons; no booking is needed.",
        "well-baby sessions on Wednesday",
        "where do I take my infant for a check-up?",
    ),
    (
        "clinic-travel",
        "Travel advice. Travellers should visit the nurse eight weeks before departure to check which injections and malaria tablets the destination needs.",
        "travel injections and malaria tablets",
        "I am going abroad soon, what protection do I need?",
    ),
    (
        "clinic-interpreter",
        "Interpreters. Patients who need an interpreter can ask for one when booking; the service is free and available in over forty languages.",
        "interpreter available when booking",
        "I don't speak the local language well, can someone translate?",
    ),
    (
        "clinic-parking",
        "Parking. Patient parking is behind the building and free for two hours; blue badge holders may park by the entrance.",
        "free patient parking behind the building",
        "where can I leave my car during the visit?",
    ),
    # --- a city council -------------------------------------------------------------------
    (
        "city-waste",
        "Rubbish collection. General waste is collected every other Monday and recycling on the alternate weeks; bins must be at the kerb by seven in the morning.",
        "rubbish collection every other Monday",
        "which day do the bin lorries come?",
    ),
    (
        "city-parking-permit",
        "Residents' parking permits. A permit costs sixty dollars a year and is applied for online with the vehicle registration and proof of address.",
        "residents parking permit costs sixty dollars",
        "how do I get allowed to leave my car on my street?",
    ),
    (
        "city-noise",
        "Noise complaints. Loud music or building work at night can be reported on the council website; officers visit when the noise is ongoing.",
        "report noise complaints at night",
        "my neighbours are blasting music at 2am, who can I tell?",
    ),
    (
        "city-planning",
        "Planning permission. Extensions larger than four metres and any change to a listed building need planning permission before work starts.",
        "planning permission for extensions",
        "do I need approval to build an extra room onto my house?",
    ),
    (
        "city-council-tax",
        "Council tax. The tax is paid in ten monthly instalments from April; people living alone get a twenty-five percent reduction.",
        "council tax single person reduction",
        "I live by myself, do I pay less to the local authority?",
    ),
    (
        "city-potholes",
        "Road repairs. Potholes deeper than four centimetres are repaired within five days of being reported through the online map.",
        "report potholes for repair",
        "there is a big hole in the road outside my home",
    ),
    (
        "city-pools",
        "Swimming pools. The public pools open at six for lane swimming; under-fives swim free with a paying adult.",
        "public swimming pool lane swimming hours",
        "when can I do laps before work?",
    ),
    (
        "city-trees",
        "Street trees. Residents can ask for a tree to be planted outside their home; the council chooses the species and waters it for two summers.",
        "ask for a street tree to be planted",
        "could the town put some greenery on my road?",
    ),
    (
        "city-elections",
        "Voter registration. To vote in local elections you must be on the electoral register; register online with your national insurance number.",
        "register to vote on the electoral register",
        "how do I make sure I can take part in the ballot?",
    ),
    (
        "city-bulky",
        "Bulky items. Sofas, fridges and mattresses are collected for a fee of thirty dollars for up to three items; book a collection online.",
        "bulky item collection fee",
        "how do I get rid of an old couch?",
    ),
    # --- a university ---------------------------------------------------------------------
    (
        "uni-enrolment",
        "Enrolment. New students enrol online before term starts and collect their student card in the main hall during welcome week.",
        "enrol online and collect student card",
        "what must freshers do when they first arrive?",
    ),
    (
        "uni-exams",
        "Examinations. The exam timetable is published six weeks before the assessment period; clashes must be reported within a week.",
        "exam timetable published six weeks before",
        "when will I know the dates of my tests?",
    ),
    (
        "uni-extensions",
        "Coursework extensions. Students with illness or other serious circumstances can apply for an extension of up to two weeks with supporting evidence.",
        "apply for a coursework extension",
        "I was sick and could not finish my essay on time",
    ),
    (
        "uni-accommodation",
        "Halls of residence. First-year students are guaranteed a room in halls if they apply by the first of June; rent is paid each term.",
        "halls of residence guaranteed room",
        "where will I live during my first year?",
    ),
    (
        "uni-fees",
        "Tuition fees. Fees can be paid in full at registration or in three instalments; a late payment blocks access to results.",
        "tuition fees paid in three instalments",
        "can I spread the cost of my studies?",
    ),
    (
        "uni-library",
        "Study spaces. The main library is open around the clock during exam periods; silent floors are on levels three and four.",
        "library open around the clock in exams",
        "is there somewhere quiet to revise late at night?",
    ),
    (
        "uni-counselling",
        "Counselling. Free confidential counselling is available to all students; appointments are usually offered within a week.",
        "free confidential counselling for students",
        "I feel anxious and overwhelmed, who can I talk to?",
    ),
    (
        "uni-careers",
        "Careers service. Advisers review CVs, run mock interviews and publish internship vacancies throughout the year.",
        "careers advisers review CVs",
        "can someone help me find a job after graduation?",
    ),
    (
        "uni-plagiarism",
        "Academic integrity. Submitting someone else's work as your own is plagiarism; all essays are checked by similarity software.",
        "plagiarism similarity software essays",
        "what happens if I copy a classmate's assignment?",
    ),
    (
        "uni-graduation",
        "Graduation. Ceremonies are held in July; each graduate may bring two guests and gowns are hired through the official supplier.",
        "graduation ceremonies in July gowns",
        "when do I receive my degree on stage?",
    ),
]

ITEMS = [Item(*row) for row in _ITEMS]


def write_documents(folder: Path) -> dict[str, Path]:
    """Write one ``.txt`` file per item into ``folder``; name → path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for item in ITEMS:
        path = folder / f"{item.name}.txt"
        path.write_text(item.text + "\n", encoding="utf-8")
        paths[item.name] = path
    return paths


def questions() -> list[tuple[str, str, str]]:
    """(question, kind, answer document name) for every item: 120 questions, half of them
    paraphrases."""
    out = []
    for item in ITEMS:
        out.append((item.keyword, "keyword", item.name))
        out.append((item.paraphrase, "paraphrase", item.name))
    return out
