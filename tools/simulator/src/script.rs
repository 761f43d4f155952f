//! What the simulated people say: customers with names and numbers, the questions they come
//! with and how they go on, what colleagues answer. Pure data and pure choices from a seeded
//! random generator, so a seed gives the same demo every time.

use rand::Rng;
use rand::seq::IndexedRandom;

const FIRST_NAMES: &[&str] = &[
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kaito",
    "Lena",
    "Mateo",
    "Nadia",
    "Oscar",
    "Priya",
    "Quentin",
    "Rosa",
    "Samir",
    "Tessa",
    "Umar",
    "Valentina",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Amara",
    "Bruno",
    "Camille",
    "Diego",
    "Emma",
    "Felix",
    "Giulia",
    "Hannah",
    "Ivan",
    "Julia",
    "Karim",
    "Laura",
    "Marco",
    "Nora",
];

const LAST_NAMES: &[&str] = &[
    "Silva", "Martin", "Dubois", "Ivanova", "Rossi", "Haddad", "Kim", "Schmidt", "Garcia", "Novak", "Tanaka", "Müller",
    "Lopez", "Khan", "Nielsen", "Patel", "Moreau", "Santos", "Weber", "Costa", "Ali", "Bianchi", "Chen", "Herrera",
    "Yilmaz", "Laurent",
];

/// A simulated customer: a name, and the numbers and address they write from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persona {
    pub first_name: String,
    pub name: String,
    /// WhatsApp id (digits, no `+`) and the E.164 number they call from: the same number, so a
    /// customer who both writes and calls is one customer.
    pub wa_id: String,
    pub phone: String,
    pub email: String,
}

/// The `n`th customer of a run: names cycle, numbers never repeat (`run` keeps runs apart).
pub fn persona(run: u32, n: u32) -> Persona {
    let first = FIRST_NAMES[n as usize % FIRST_NAMES.len()];
    let last = LAST_NAMES[(n as usize / FIRST_NAMES.len() + n as usize * 7) % LAST_NAMES.len()];
    // +1 555 01xx xxxx is reserved for fiction; run and index keep numbers unique.
    let wa_id = format!("1555{:02}{:05}", run % 100, n % 100_000);
    Persona {
        first_name: first.to_owned(),
        name: format!("{first} {last}"),
        phone: format!("+{wa_id}"),
        email: format!("{}.{}@example.com", ascii(first), ascii(last)),
        wa_id,
    }
}

fn ascii(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| match c {
            'é' | 'è' => 'e',
            'ü' => 'u',
            c => c,
        })
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// What a customer comes with and how the conversation goes on.
#[derive(Debug)]
pub struct Scenario {
    pub topic: &'static str,
    /// What the AI answers to the opening (in seeded history), and how sure it is: below the
    /// tenant's threshold (0.6) the conversation goes to a person.
    pub ai_answer: &'static str,
    pub ai_confidence: f32,
    pub opening: &'static str,
    /// What the customer says next, one line per answer they get.
    pub follow_ups: &'static [&'static str],
    /// What a colleague answers when the conversation reaches them.
    pub agent_reply: &'static str,
    /// The voicemail a caller with this issue leaves.
    pub voicemail: &'static str,
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        topic: "order status",
        ai_answer: "Orders ship within 1 to 2 business days and arrive 3 to 5 days later; the tracking link is in your shipping confirmation email. If you send me your order number, I can tell you where it is.",
        ai_confidence: 0.78,
        opening: "Hi, where is my order? It should have arrived yesterday",
        follow_ups: &["It's #48213", "Great, thank you!"],
        agent_reply: "I checked order #48213: it is with the carrier and arrives tomorrow before noon.",
        voicemail: "Hi, I'm calling about my order 48213, it still hasn't arrived. Could you call me back please?",
    },
    Scenario {
        topic: "return",
        ai_answer: "You can return any item within 30 days, unused and in its box: start the return from \"My orders\" and we email you a prepaid label.",
        ai_confidence: 0.8,
        opening: "Hello, I'd like to return the shoes I bought, they're too small",
        follow_ups: &["How long does the refund take?", "Perfect, thanks"],
        agent_reply: "I've started the return for you: the prepaid label is in your inbox.",
        voicemail: "Hello, I want to return a pair of shoes, they don't fit. What do I need to do?",
    },
    Scenario {
        topic: "password",
        ai_answer: "You can reset your password from the sign-in page with \"Forgot password\": the link in the email is valid for 30 minutes.",
        ai_confidence: 0.9,
        opening: "I can't log in to my account, it says my password is wrong",
        follow_ups: &["Got it, the email arrived. Thanks!"],
        agent_reply: "I've sent you a fresh reset link; it is valid for 30 minutes.",
        voicemail: "Hi, I'm locked out of my account and the reset email never comes. Please help.",
    },
    Scenario {
        topic: "pricing",
        ai_answer: "Our plans start at 19 € a month (Starter), 49 € (Team) and 99 € (Business), all with a 14-day free trial.",
        ai_confidence: 0.8,
        opening: "What does the Team plan cost?",
        follow_ups: &[
            "Is there a discount for yearly billing?",
            "Can I talk to someone in sales?",
            "Thanks, talk soon",
        ],
        agent_reply: "Yearly billing saves two months: the Team plan is 490 € a year. I can set up a call with sales today.",
        voicemail: "Hello, I'm interested in the Business plan for 40 people, can someone from sales call me back?",
    },
    Scenario {
        topic: "damaged item",
        ai_answer: "I'm passing you to a colleague: I'm sorry about this, and a member of our team needs to look into it personally.",
        ai_confidence: 0.45,
        opening: "My parcel arrived and the vase inside is broken",
        follow_ups: &["Yes, I have photos, sending them now", "Thank you, I'll wait for the replacement"],
        agent_reply: "I'm so sorry! A replacement vase leaves our warehouse today, no need to send the broken one back.",
        voicemail: "Hi, the vase I ordered arrived broken. I'd like a replacement please, call me back.",
    },
    Scenario {
        topic: "billing",
        ai_answer: "I'm passing you to a colleague: a member of our team needs to look into this charge personally.",
        ai_confidence: 0.4,
        opening: "I was charged twice for order #51920!!",
        follow_ups: &["Please fix this quickly", "Thanks for sorting it out"],
        agent_reply: "You're right, the second charge was a mistake: I've refunded it, you'll see it in 3 to 5 days.",
        voicemail: "Hello, I've been charged twice for the same order, number 51920. I need this refunded.",
    },
    Scenario {
        topic: "asks for a person",
        ai_answer: "I'm passing you to a colleague right away: a member of our team will answer here in a moment.",
        ai_confidence: 0.2,
        opening: "I want to speak to a real person please",
        follow_ups: &["It's about a custom order for my company", "We'd need 200 units by March", "Great, thanks!"],
        agent_reply: "Happy to help with a company order: 200 units by March works, I'll send you a quote today.",
        voicemail: "Hi, I'd like to talk to someone about a large order for my company. Please call me back.",
    },
    Scenario {
        topic: "address change",
        ai_answer: "I can change the delivery address while the order has not shipped yet. Please send me the order number and the new address.",
        ai_confidence: 0.7,
        opening: "Can I change the delivery address for my order?",
        follow_ups: &["Order 73310, the new address is 12 Rue de la Paix, Paris", "Thank you!"],
        agent_reply: "Done: order 73310 now goes to 12 Rue de la Paix, Paris.",
        voicemail: "Hi, I need to change the delivery address of order 73310 before it ships.",
    },
    Scenario {
        topic: "opening hours",
        ai_answer: "Our team is here Monday to Friday, 8:00 to 18:00, and Saturday 9:00 to 13:00. I answer around the clock.",
        ai_confidence: 0.93,
        opening: "Are you open on Saturday?",
        follow_ups: &["Thanks!"],
        agent_reply: "Yes, Saturdays from 9:00 to 13:00.",
        voicemail: "Hello, are you open on Saturday? Thanks.",
    },
    Scenario {
        topic: "unclear",
        ai_answer: "Could you tell me a little more: is it about an order, a return, your account or our plans?",
        ai_confidence: 0.62,
        opening: "Hey, quick question about the thing from last week",
        follow_ups: &["The blue one, you know", "Never mind, can a human help me?", "Yes that's it, thanks"],
        agent_reply: "I think you mean the blue backpack from your last order: it's back in stock, shall I reserve one?",
        voicemail: "Hi, it's about the thing from last week, call me back when you can.",
    },
    Scenario {
        topic: "cancellation",
        ai_answer: "Orders can be cancelled free of charge until they ship. A subscription can be cancelled any time in your account settings.",
        ai_confidence: 0.74,
        opening: "I want to cancel my subscription",
        follow_ups: &["Ok, done. Thanks"],
        agent_reply: "Your subscription is cancelled and stays active until the end of the month.",
        voicemail: "Hello, I'd like to cancel my subscription. Please confirm when it's done.",
    },
    Scenario {
        topic: "outage",
        ai_answer: "I'm passing you to a colleague: this needs a member of our team right now.",
        ai_confidence: 0.35,
        opening: "Your checkout is down, we can't pay!!! This is urgent",
        follow_ups: &["It says error 502", "Works again, thanks for the quick help"],
        agent_reply: "Thanks for telling us: the payment provider had an outage, it's fixed since 5 minutes.",
        voicemail: "This is urgent, your checkout page is down and our customers cannot pay. Call me back now.",
    },
];

/// What a customer says when they had no answer for a while.
pub const NUDGE: &str = "Hello? Is anyone there?";

pub fn scenario(rng: &mut impl Rng) -> &'static Scenario {
    SCENARIOS.choose(rng).unwrap_or(&SCENARIOS[0])
}

/// Pages of the demo shop a web chat visitor browses, (path, title).
pub const SHOP_PAGES: &[(&str, &str)] = &[
    ("/", "Demo shop"),
    ("/shoes", "Running shoes"),
    ("/pricing", "Pricing"),
    ("/orders", "My orders"),
    ("/help/returns", "Returns and refunds"),
    ("/home/vases", "Vases"),
];

/// The colleagues the simulator plays (besides the people a newcomer signs in as):
/// (name, email local part, role).
pub const AGENTS: &[(&str, &str, &str)] = &[
    ("Sarah Admin", "sarah", "admin"),
    ("Sam Supervisor", "sam", "supervisor"),
    ("Priya Patel", "priya", "agent"),
    ("Tom Becker", "tom", "agent"),
    ("Lucía Fernández", "lucia", "agent"),
];

/// Response templates (saved replies) of the demo tenant: (name, body).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("greeting", "Hi {{customer_name}}! Thanks for reaching out to {{company_name}}. How can I help you today?"),
    (
        "refund_policy",
        "You can return any item within 30 days. Once the parcel reaches us, the refund takes 3 to 5 business days.",
    ),
    (
        "shipping_times",
        "Orders ship within 1 to 2 business days and arrive 3 to 5 days later. The tracking link is in your confirmation email.",
    ),
    ("closing", "Glad I could help, {{customer_name}}! Have a great day. — {{agent_name}}"),
];

/// The approved WhatsApp template colleagues send once the 24-hour window has closed.
pub const FOLLOW_UP_TEMPLATE: &str = "order_follow_up";

/// How a colleague greets before their answer.
pub fn agent_answer(customer_first_name: &str, agent_first_name: &str, scenario: &Scenario) -> String {
    format!("Hi {customer_first_name}, {agent_first_name} here. {}", scenario.agent_reply)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn personas_have_unique_numbers_and_plausible_addresses() {
        let a = persona(7, 1);
        let b = persona(7, 2);
        let c = persona(8, 1);
        assert_ne!(a.wa_id, b.wa_id);
        assert_ne!(a.wa_id, c.wa_id);
        assert_eq!(a.phone, format!("+{}", a.wa_id));
        assert!(a.wa_id.chars().all(|c| c.is_ascii_digit()) && a.wa_id.len() == 11);
        assert!(a.email.ends_with("@example.com") && a.email.is_ascii());
        assert!(a.name.starts_with(&a.first_name));
    }

    #[test]
    fn a_seed_gives_the_same_choices() {
        let pick = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..10).map(|_| scenario(&mut rng).topic).collect::<Vec<_>>()
        };
        assert_eq!(pick(3), pick(3));
    }

    #[test]
    fn templates_use_only_built_in_variables() {
        for (name, body) in TEMPLATES {
            let mut rest = *body;
            while let Some(open) = rest.find("{{") {
                let close = rest[open..].find("}}").map(|c| open + c).unwrap();
                let variable = &rest[open + 2..close];
                assert!(["customer_name", "company_name", "agent_name"].contains(&variable), "{name}: {variable}");
                rest = &rest[close + 2..];
            }
        }
    }
}
