//! The index on a temporary directory: writing with version checks, and every operator of
//! the language against real documents.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use inbox_service::Visibility;
use uuid::Uuid;

use super::search::{Caller, Order, Page};
use super::writer::Change;
use super::{SearchIndex, WriterOptions};
use crate::documents::{ConversationDoc, CustomerProfile, CustomerSighting, MessageDoc};
use crate::domain::conversation::{Channel, Priority, Sender, Status};
use crate::domain::phone::PhoneDigits;
use crate::domain::plan::{Directory, plan, plan_customers};
use crate::domain::query::parse;
use crate::index::schema::TextSource;

fn open(dir: &std::path::Path) -> SearchIndex {
    SearchIndex::open(dir, WriterOptions { threads: 1, memory_bytes: 20_000_000 }).unwrap()
}

fn t0() -> DateTime<Utc> {
    "2031-03-02T10:00:00Z".parse().unwrap()
}

struct Conv {
    doc: ConversationDoc,
}

impl Conv {
    fn new(tenant: Uuid, name: &str, address: &str, channel: Channel) -> Self {
        let contact = CustomerSighting {
            id: Uuid::now_v7(),
            name: name.into(),
            segment: String::new(),
            updated_at: t0(),
            created_at: t0(),
        };
        let id = Uuid::now_v7();
        let proto = inbox_proto::conversation::v1::Conversation {
            id: id.to_string(),
            tenant_id: tenant.to_string(),
            contact: Some(inbox_proto::conversation::v1::Contact {
                id: contact.id.to_string(),
                display_name: name.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        use prost::Message as _;
        Self {
            doc: ConversationDoc {
                id,
                tenant,
                version: 1,
                status: Some(Status::Active),
                priority: Some(Priority::Normal),
                channel: Some(channel),
                assignee: None,
                team: None,
                address_phone: PhoneDigits::of_address(address),
                contact: Some(contact),
                last_message_at: t0(),
                created_at: t0(),
                proto: proto.encode_to_vec(),
            },
        }
    }

    /// The next version with `edit` applied.
    fn next(&mut self, edit: impl FnOnce(&mut ConversationDoc)) -> ConversationDoc {
        self.doc.version += 1;
        edit(&mut self.doc);
        self.doc.clone()
    }

    fn message(&mut self, sender: Sender, text: &str, minutes: i64) -> Change {
        let sent_at = t0() + Duration::minutes(minutes);
        let conversation = self.next(|c| c.last_message_at = sent_at);
        Change::Message {
            message: MessageDoc {
                id: Uuid::now_v7(),
                tenant: conversation.tenant,
                conversation_id: conversation.id,
                external_id: format!("wamid.{}", Uuid::new_v4().simple()),
                sender: Some(sender),
                internal_note: false,
                sent_at,
                text: text.into(),
                source: TextSource::Body,
            },
            conversation,
        }
    }
}

fn directory(me: Option<Uuid>) -> Directory {
    Directory {
        me,
        agents: HashMap::new(),
        teams: HashMap::new(),
        zone: chrono_tz::Tz::UTC,
        now: t0() + Duration::days(1),
    }
}

fn caller(tenant: Uuid) -> Caller {
    Caller { tenant, visibility: Visibility::All, notes: true }
}

fn page() -> Page {
    Page { offset: 0, limit: 20, order: Order::Relevance, facets: false }
}

/// Conversation ids matching `query`, best first.
fn ids(index: &SearchIndex, caller: &Caller, query: &str) -> Vec<Uuid> {
    let p = plan(&parse(query).unwrap(), &directory(None)).unwrap();
    hit_ids(&index.search_conversations(caller, &p, page()).unwrap())
}

/// The conversation ids of a page, in its order.
fn hit_ids(results: &super::search::ConversationResults) -> Vec<Uuid> {
    results
        .hits
        .iter()
        .map(|h| {
            use prost::Message as _;
            let c = inbox_proto::conversation::v1::Conversation::decode(h.conversation.as_slice()).unwrap();
            Uuid::parse_str(&c.id).unwrap()
        })
        .collect()
}

#[test]
fn words_phrases_prefixes_and_exclusions_find_the_right_conversations() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let tenant = Uuid::now_v7();
    let mut refund = Conv::new(tenant, "Ana Souza", "15551230001", Channel::Whatsapp);
    let mut delivery = Conv::new(tenant, "Bob Martin", "15551230002", Channel::Whatsapp);
    let mut paypal = Conv::new(tenant, "Chloé Dubois", "visitor-1", Channel::Webchat);
    index
        .apply(
            &[
                refund.message(Sender::Customer, "I want a refund, the request was sent last week", 1),
                delivery.message(Sender::Customer, "My delivery is late, where is the parcel?", 2),
                paypal.message(Sender::Customer, "Refunds via PayPal take how long? I requested one", 3),
            ],
            3,
        )
        .unwrap();
    let c = caller(tenant);
    let (r, d, p) = (refund.doc.id, delivery.doc.id, paypal.doc.id);
    let mut both = ids(&index, &c, "refund ");
    both.sort();
    let mut expected = vec![r, p];
    expected.sort();
    assert_eq!(both, expected, "stemmed: refund finds Refunds");
    assert_eq!(ids(&index, &c, r#""refund request" "#), Vec::<Uuid>::new(), "no such phrase");
    assert_eq!(ids(&index, &c, r#""the request was" "#), vec![r]);
    assert_eq!(ids(&index, &c, "deliv"), vec![d], "the word being typed is a prefix");
    assert_eq!(ids(&index, &c, "deliv "), Vec::<Uuid>::new(), "a finished word is not");
    assert_eq!(ids(&index, &c, "refund -paypal "), vec![r]);
    assert_eq!(ids(&index, &c, "chloe "), vec![p], "accents fold, names match");
    assert_eq!(ids(&index, &c, "PARCEL "), vec![d]);
}

#[test]
fn phones_in_any_writing_emails_names_and_ids_find_their_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let tenant = Uuid::now_v7();
    let mut ana = Conv::new(tenant, "Ana Souza", "15551234567", Channel::Whatsapp);
    let mut bob = Conv::new(tenant, "Bob Martin", "442079460958", Channel::Telephony);
    let first = ana.message(Sender::Customer, "hello", 1);
    let Change::Message { message: first_message, .. } = &first else { unreachable!() };
    let (message_id, external_id) = (first_message.id, first_message.external_id.clone());
    index.apply(&[first, bob.message(Sender::Customer, "hi", 2)], 2).unwrap();
    let c = caller(tenant);
    for q in ["phone:+1 555 123 4567", "phone:15551234567", "phone:(555) 123-4567", "phone:+1.555.123.4567"] {
        assert_eq!(ids(&index, &c, q), vec![ana.doc.id], "{q}");
    }
    assert_eq!(ids(&index, &c, "phone:020 7946 0958"), vec![bob.doc.id], "national writing");
    assert_eq!(ids(&index, &c, "15551234567 "), vec![ana.doc.id], "a bare number");
    assert_eq!(ids(&index, &c, "name:ana"), vec![ana.doc.id]);
    assert_eq!(ids(&index, &c, r#"name:"martin bob""#), vec![bob.doc.id], "every word, any order");
    assert_eq!(ids(&index, &c, &format!("id:{}", ana.doc.id)), vec![ana.doc.id]);
    assert_eq!(ids(&index, &c, &format!("id:{message_id}")), vec![ana.doc.id]);
    assert_eq!(ids(&index, &c, &format!("id:{external_id}")), vec![ana.doc.id]);
    assert_eq!(ids(&index, &c, &bob.doc.id.to_string()), vec![bob.doc.id], "a bare id");

    // Emails come with the whole profile.
    let profile = CustomerProfile::from_proto(&inbox_proto::conversation::v1::Customer {
        id: ana.doc.contact.as_ref().unwrap().id.to_string(),
        tenant_id: tenant.to_string(),
        display_name: "Ana Souza".into(),
        phones: vec!["+15551234567".into()],
        emails: vec!["Ana@Example.com".into()],
        attributes: [("plan".to_owned(), "gold".to_owned())].into(),
        segment: "vip".into(),
        updated_at: Some(inbox_proto::timestamp_from(t0() + Duration::hours(1))),
        ..Default::default()
    })
    .unwrap();
    index.apply(&[Change::Customer(profile)], 1).unwrap();
    assert_eq!(ids(&index, &c, "email:ana@example.com"), vec![ana.doc.id]);
    assert_eq!(ids(&index, &c, "ANA@example.com"), vec![ana.doc.id], "a bare email");
    assert_eq!(ids(&index, &c, "email:@example.com"), vec![ana.doc.id]);
    assert_eq!(ids(&index, &c, "-email:example.com name:ana"), Vec::<Uuid>::new());
    let customers = index.search_customers(tenant, &plan_customers(&parse("gold").unwrap()).unwrap(), 0, 10).unwrap();
    assert_eq!(customers.hits.len(), 1, "custom attributes are searched");
    assert_eq!(customers.hits[0].profile.emails, vec!["ana@example.com".to_owned()]);
}

#[test]
fn status_channel_priority_assignment_team_and_dates_filter() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let tenant = Uuid::now_v7();
    let (sarah, team) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = Conv::new(tenant, "A", "15550000001", Channel::Whatsapp);
    let mut b = Conv::new(tenant, "B", "15550000002", Channel::Telephony);
    let mut c = Conv::new(tenant, "C", "v-3", Channel::Webchat);
    index
        .apply(
            &[
                a.message(Sender::Customer, "order problem", 0),
                b.message(Sender::Customer, "order problem", 60 * 24),
                c.message(Sender::Customer, "order problem", 60 * 48),
            ],
            3,
        )
        .unwrap();
    let b_resolved = b.next(|d| {
        d.status = Some(Status::Resolved);
        d.assignee = Some(sarah);
        d.team = Some(team);
    });
    let c_urgent = c.next(|d| d.priority = Some(Priority::Urgent));
    index.apply(&[Change::Conversation(b_resolved), Change::Conversation(c_urgent)], 2).unwrap();
    let cl = caller(tenant);
    assert_eq!(ids(&index, &cl, "order status:resolved"), vec![b.doc.id]);
    assert_eq!(ids(&index, &cl, "status:resolved"), vec![b.doc.id], "without words");
    let mut open = ids(&index, &cl, "order status:open");
    open.sort();
    let mut want = vec![a.doc.id, c.doc.id];
    want.sort();
    assert_eq!(open, want);
    assert_eq!(ids(&index, &cl, "order channel:telephony"), vec![b.doc.id]);
    assert_eq!(ids(&index, &cl, "order -channel:telephony -channel:webchat"), vec![a.doc.id]);
    assert_eq!(ids(&index, &cl, "priority:urgent"), vec![c.doc.id]);
    assert_eq!(ids(&index, &cl, &format!("assigned:{sarah}")), vec![b.doc.id]);
    assert_eq!(ids(&index, &cl, &format!("team:{team} order")), vec![b.doc.id]);
    assert_eq!(ids(&index, &cl, "assigned:none team:none order").len(), 2);
    assert_eq!(ids(&index, &cl, "on:2031-03-03 order"), vec![b.doc.id]);
    assert_eq!(ids(&index, &cl, "on:2031-03-03"), vec![b.doc.id], "a date alone");
    assert_eq!(ids(&index, &cl, "after:2031-03-03 before:2031-03-04"), vec![b.doc.id]);
    assert_eq!(ids(&index, &cl, "before:2031-03-03").len(), 1);
    let p = plan(&parse("order").unwrap(), &directory(None)).unwrap();
    let recent = index.search_conversations(&cl, &p, Page { order: Order::Recent, facets: true, ..page() }).unwrap();
    let facets = recent.facets.unwrap();
    assert_eq!(facets.total, 3);
    assert_eq!(facets.by_status.get(&Status::Active.code()), Some(&2));
    assert_eq!(facets.by_channel.get(&Channel::Webchat.code()), Some(&1));
}

#[test]
fn no_query_reaches_another_tenant_or_a_team_the_caller_cannot_see() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let (mine, theirs) = (Uuid::now_v7(), Uuid::now_v7());
    let (my_team, other_team, me, colleague) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut own = Conv::new(mine, "Same Name", "15551112222", Channel::Whatsapp);
    let mut rival = Conv::new(theirs, "Same Name", "15551112222", Channel::Whatsapp);
    let mut hidden = Conv::new(mine, "Same Name", "15551112222", Channel::Whatsapp);
    let mut mine_elsewhere = Conv::new(mine, "Same Name", "15551112222", Channel::Whatsapp);
    let secret = "secret refund phrase";
    index
        .apply(
            &[
                own.message(Sender::Customer, secret, 1),
                rival.message(Sender::Customer, secret, 1),
                hidden.message(Sender::Customer, secret, 1),
                mine_elsewhere.message(Sender::Customer, secret, 1),
            ],
            4,
        )
        .unwrap();
    let hidden_v = hidden.next(|d| {
        d.team = Some(other_team);
        d.assignee = Some(colleague);
    });
    let own_v = own.next(|d| d.team = Some(my_team));
    let elsewhere_v = mine_elsewhere.next(|d| {
        d.team = Some(other_team);
        d.assignee = Some(me);
    });
    index
        .apply(&[Change::Conversation(hidden_v), Change::Conversation(own_v), Change::Conversation(elsewhere_v)], 3)
        .unwrap();
    let scoped = Caller {
        tenant: mine,
        visibility: Visibility::Teams { team_ids: vec![my_team], assignee: Some(me) },
        notes: true,
    };
    let mut visible = vec![own.doc.id, mine_elsewhere.doc.id];
    visible.sort();
    let queries = [
        "secret ".to_owned(),
        "\"secret refund phrase\"".into(),
        "phone:15551112222".into(),
        "name:same".into(),
        "".into(),
        "se".into(),
        format!("id:{}", rival.doc.id),
        format!("id:{}", hidden.doc.id),
        format!("tenant:{theirs}").replace("tenant:", ""),
        "status:active,pending,resolved,archived".into(),
        format!("team:{other_team}"),
        format!("assigned:{colleague}"),
        "-nothing".into(),
    ];
    for q in &queries {
        let mut got = ids(&index, &scoped, q);
        got.sort();
        assert!(got.iter().all(|id| visible.contains(id)), "{q:?} leaked {got:?}");
        let all = ids(&index, &caller(mine), q);
        assert!(!all.contains(&rival.doc.id), "{q:?} crossed tenants");
    }
    assert_eq!(
        {
            let mut v = ids(&index, &scoped, "secret ");
            v.sort();
            v
        },
        visible
    );
    assert_eq!(ids(&index, &caller(theirs), "secret "), vec![rival.doc.id]);
}

#[test]
fn repeated_and_late_events_change_nothing_and_deleted_conversations_stay_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = Uuid::now_v7();
    let mut conv = Conv::new(tenant, "Ana", "15551234567", Channel::Whatsapp);
    let first = conv.message(Sender::Customer, "where is my parcel", 1);
    let resolved = conv.next(|d| d.status = Some(Status::Resolved));
    let older = {
        let mut o = resolved.clone();
        o.version -= 1;
        o.status = Some(Status::Pending);
        o
    };
    {
        let index = open(dir.path());
        index.apply(&[Change::Conversation(resolved.clone()), first.clone()], 2).unwrap();
        // A late, older version and a repeat change nothing.
        let applied = index.apply(&[Change::Conversation(older.clone()), first.clone()], 2).unwrap();
        assert_eq!(applied.skipped, 1);
        assert_eq!(ids(&index, &caller(tenant), "status:resolved"), vec![conv.doc.id]);
        assert_eq!(ids(&index, &caller(tenant), "parcel ").len(), 1, "the message is there once");
    }
    // The state survives a restart (rebuilt from the index), and deletes stick.
    let index = open(dir.path());
    assert_eq!(ids(&index, &caller(tenant), "status:resolved"), vec![conv.doc.id]);
    assert!(index.bootstrapping(), "created empty: it catches up first");
    index.apply(&[Change::ConversationDeleted { tenant, id: conv.doc.id }], 1).unwrap();
    let late = conv.message(Sender::Customer, "parcel again", 5);
    index.apply(&[late, Change::Conversation(conv.next(|_| {}))], 2).unwrap();
    assert!(ids(&index, &caller(tenant), "parcel ").is_empty());
    assert!(ids(&index, &caller(tenant), "").is_empty());
    drop(index);
    let index = open(dir.path());
    assert!(index.tables().conversation(&conv.doc.id).is_some_and(|c| c.deleted));
}

#[test]
fn a_message_is_indexed_once_however_often_and_in_whatever_order_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = Uuid::now_v7();
    let mut conv = Conv::new(tenant, "Ana", "15551234567", Channel::Whatsapp);
    let (early, late, middle) = (
        conv.message(Sender::Customer, "parcel one", 1),
        conv.message(Sender::Customer, "parcel five", 5),
        conv.message(Sender::Customer, "parcel three", 3),
    );
    let base = {
        let index = open(dir.path());
        index.apply(&[late.clone(), early.clone()], 2).unwrap();
        let base = index.documents();
        // Repeats in one batch, a repeat of the newest, and an older message arriving late.
        index.apply(&[late.clone(), late.clone(), middle.clone(), early.clone()], 4).unwrap();
        assert_eq!(index.documents(), base + 1, "only the message sent at 3 minutes is new");
        base + 1
    };
    // After a restart the index still knows which messages it may already hold.
    let index = open(dir.path());
    index.apply(&[middle, late, early], 3).unwrap();
    assert_eq!(index.documents(), base, "repeats after a restart replace themselves");
    let newest = conv.message(Sender::Customer, "parcel ten", 10);
    index.apply(&[newest.clone(), newest.clone()], 2).unwrap();
    index.apply(std::slice::from_ref(&newest), 1).unwrap();
    assert_eq!(index.documents(), base + 1, "a new message twice in a batch, then again");
    assert_eq!(ids(&index, &caller(tenant), "parcel ").len(), 1);
}

#[test]
fn internal_notes_are_found_by_people_not_by_the_ai() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let tenant = Uuid::now_v7();
    let mut conv = Conv::new(tenant, "Ana", "15551234567", Channel::Whatsapp);
    let Change::Message { mut message, conversation } = conv.message(Sender::Agent, "customer is a known fraudster", 1)
    else {
        unreachable!()
    };
    message.internal_note = true;
    index.apply(&[Change::Message { message, conversation }], 1).unwrap();
    assert_eq!(ids(&index, &caller(tenant), "fraudster ").len(), 1);
    let ai = Caller { notes: false, ..caller(tenant) };
    assert!(ids(&index, &ai, "fraudster ").is_empty());
}

#[test]
fn the_first_customer_message_of_each_conversation_is_found_whatever_the_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let tenant = Uuid::now_v7();
    let mut conv = Conv::new(tenant, "Ana", "15551234567", Channel::Whatsapp);
    let second = conv.message(Sender::Customer, "hello? anyone?", 10);
    let first = conv.message(Sender::Customer, "where is my refund", 5);
    let agent = conv.message(Sender::Agent, "we are on it", 7);
    index.apply(&[second], 1).unwrap();
    index.apply(&[agent, first], 2).unwrap();
    let firsts = index.first_customer_messages(&caller(tenant), t0(), t0() + Duration::hours(1)).unwrap();
    assert_eq!(firsts.len(), 1);
    assert_eq!(firsts[0].text, "where is my refund");
}

#[test]
fn highlights_mark_the_words_in_the_best_message() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let tenant = Uuid::now_v7();
    let mut conv = Conv::new(tenant, "Ana", "15551234567", Channel::Whatsapp);
    index
        .apply(
            &[
                conv.message(Sender::Customer, "nothing here", 1),
                conv.message(Sender::Customer, "I asked for a Refund twice", 2),
            ],
            2,
        )
        .unwrap();
    let p = plan(&parse("refunds ").unwrap(), &directory(None)).unwrap();
    let results = index.search_conversations(&caller(tenant), &p, page()).unwrap();
    let best = results.hits[0].best_message.as_ref().unwrap();
    let (from, to) = best.fragment.ranges[0];
    assert_eq!(&best.fragment.text[from..to], "Refund");
}

#[test]
fn pages_follow_each_other_without_gaps_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let tenant = Uuid::now_v7();
    let mut changes = Vec::new();
    let mut all = Vec::new();
    for i in 0..25 {
        let mut conv = Conv::new(tenant, "Ana", "15551234567", Channel::Whatsapp);
        changes.push(conv.message(Sender::Customer, &format!("invoice {}", "again ".repeat(i % 4)), i as i64));
        all.push(conv.doc.id);
    }
    index.apply(&changes, 25).unwrap();
    let p = plan(&parse("invoice ").unwrap(), &directory(None)).unwrap();
    for order in [Order::Relevance, Order::Recent] {
        let mut seen = Vec::new();
        let mut offset = 0;
        loop {
            let r = index
                .search_conversations(&caller(tenant), &p, Page { offset, limit: 10, order, facets: false })
                .unwrap();
            seen.extend(r.hits.iter().map(|h| h.conversation.clone()));
            offset += 10;
            if !r.more {
                break;
            }
        }
        assert_eq!(seen.len(), 25);
        let unique: std::collections::HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), 25, "{order:?}");
    }
}

/// Every page of `query`, in order, as conversation ids.
fn every_page(index: &SearchIndex, caller: &Caller, query: &str, order: Order) -> Vec<Uuid> {
    use prost::Message as _;
    let p = plan(&parse(query).unwrap(), &directory(None)).unwrap();
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let r = index.search_conversations(caller, &p, Page { offset, limit: 7, order, facets: false }).unwrap();
        for hit in &r.hits {
            let c = inbox_proto::conversation::v1::Conversation::decode(hit.conversation.as_slice()).unwrap();
            all.push(Uuid::parse_str(&c.id).unwrap());
        }
        offset += 7;
        if !r.more {
            return all;
        }
    }
}

#[test]
fn facets_count_each_visible_matching_conversation_once_and_leave_the_page_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let (tenant, other) = (Uuid::now_v7(), Uuid::now_v7());
    let (team_a, team_b) = (Uuid::now_v7(), Uuid::now_v7());
    let words = ["refund", "parcel", "invoice", "refund parcel", "late delivery refund"];
    let mut kept: HashMap<Uuid, (u8, u8)> = HashMap::new();
    let mut deleted = Vec::new();
    // Several commits, so several segments; conversations change after their messages.
    for batch in 0..4 {
        let mut changes = Vec::new();
        for i in 0..30 {
            let n = batch * 30 + i;
            let channel = Channel::ALL[n % 3];
            let mut conv = Conv::new(if n % 11 == 0 { other } else { tenant }, "Ana Lima", "15551234567", channel);
            for m in 0..(1 + n % 4) {
                changes.push(conv.message(Sender::Customer, words[(n + m) % words.len()], (n * 10 + m) as i64));
            }
            let status = Status::ALL[n % 4];
            let team = [None, Some(team_a), Some(team_b)][n % 3];
            changes.push(Change::Conversation(conv.next(|c| {
                c.status = Some(status);
                c.team = team;
            })));
            if n % 13 == 5 {
                changes.push(Change::ConversationDeleted { tenant: conv.doc.tenant, id: conv.doc.id });
                deleted.push(conv.doc.id);
            } else if conv.doc.tenant == tenant && team != Some(team_b) {
                kept.insert(conv.doc.id, (status.code(), channel.code()));
            }
        }
        index.apply(&changes, changes.len() as u64).unwrap();
    }
    let caller =
        Caller { tenant, visibility: Visibility::Teams { team_ids: vec![team_a], assignee: None }, notes: true };
    for query in [
        "refund ",
        "parcel ",
        "refu",
        "\"late delivery\"",
        "refund status:pending",
        "refund -parcel",
        "channel:webchat",
        "",
    ] {
        for order in [Order::Relevance, Order::Recent] {
            let p = plan(&parse(query).unwrap(), &directory(None)).unwrap();
            let bare = index.search_conversations(&caller, &p, Page { order, ..page() }).unwrap();
            let faceted = index.search_conversations(&caller, &p, Page { order, facets: true, ..page() }).unwrap();
            assert_eq!(bare.hits, faceted.hits, "{query:?} {order:?}");
            assert_eq!(bare.more, faceted.more);
            let all = every_page(&index, &caller, query, order);
            assert!(all.iter().all(|id| kept.contains_key(id)), "{query:?} reached a hidden conversation");
            let facets = faceted.facets.unwrap();
            assert_eq!(facets.total, all.len() as u64, "{query:?} {order:?}");
            let mut by_status = std::collections::BTreeMap::new();
            let mut by_channel = std::collections::BTreeMap::new();
            for id in &all {
                let (status, channel) = kept[id];
                *by_status.entry(status).or_insert(0u64) += 1;
                *by_channel.entry(channel).or_insert(0u64) += 1;
            }
            assert_eq!(facets.by_status, by_status, "{query:?}");
            assert_eq!(facets.by_channel, by_channel, "{query:?}");
        }
    }
    assert!(!deleted.is_empty());
}

#[test]
fn a_segment_read_before_its_conversations_were_known_still_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let tenant = Uuid::now_v7();
    let mut conv = Conv::new(tenant, "Ana", "15551234567", Channel::Whatsapp);
    index.apply(&[conv.message(Sender::Customer, "where is my parcel", 1)], 1).unwrap();
    let searcher = index.searcher();
    // Forget the segment's ordinals, then read them against empty tables: every document of
    // it is without a conversation, and a query must look each one up by its key.
    *index.ordinals.lock().unwrap() = Default::default();
    index.segment_ordinals(&searcher, &super::state::Tables::default()).unwrap();
    assert_eq!(ids(&index, &caller(tenant), "parcel "), vec![conv.doc.id]);
    let p = plan(&parse("parcel ").unwrap(), &directory(None)).unwrap();
    let r = index.search_conversations(&caller(tenant), &p, Page { facets: true, ..page() }).unwrap();
    assert_eq!(r.facets.unwrap().total, 1);
}

#[test]
fn a_conversation_contact_is_written_again_only_when_its_name_or_phone_change() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = Uuid::now_v7();
    let mut ana = Conv::new(tenant, "Ana Souza", "15551234567", Channel::Whatsapp);
    let c = caller(tenant);
    {
        let index = open(dir.path());
        index.apply(&[ana.message(Sender::Customer, "hello", 1)], 1).unwrap();
        // The message, the conversation, its contact and the customer.
        assert_eq!(index.searcher().num_docs(), 4);
        index.apply(&[ana.message(Sender::Customer, "still there?", 2)], 1).unwrap();
        assert_eq!(index.searcher().num_docs(), 5, "a message rewrites the conversation, not its contact");
    }
    // After a restart the contact is known, and not written again either.
    let index = open(dir.path());
    index.apply(&[ana.message(Sender::Customer, "hello again", 3)], 1).unwrap();
    assert_eq!(index.searcher().num_docs(), 6);
    assert_eq!(ids(&index, &c, "souza "), vec![ana.doc.id]);

    // A rename and a new phone replace the contact.
    let renamed = ana.next(|d| {
        let contact = d.contact.as_mut().unwrap();
        contact.name = "Ana Lima".into();
        contact.updated_at = t0() + Duration::hours(1);
        d.address_phone = PhoneDigits::of_address("15559876543");
    });
    index.apply(&[Change::Conversation(renamed)], 1).unwrap();
    assert_eq!(index.searcher().num_docs(), 6);
    assert_eq!(ids(&index, &c, "lima "), vec![ana.doc.id]);
    assert_eq!(ids(&index, &c, "souza "), Vec::<Uuid>::new(), "the former name is gone");
    assert_eq!(ids(&index, &c, "phone:+1 555 987 6543"), vec![ana.doc.id]);
    // (The former phone still finds it, through the customer, who has written from both.)

    // Deleted, the conversation's contact goes with it.
    index.apply(&[Change::ConversationDeleted { tenant, id: ana.doc.id }], 1).unwrap();
    assert_eq!(ids(&index, &c, "lima "), Vec::<Uuid>::new());
    assert_eq!(index.searcher().num_docs(), 2, "the tombstone and the customer are left");
}

#[test]
fn a_name_found_with_a_date_is_dated_by_its_conversation_last_activity() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let tenant = Uuid::now_v7();
    let mut early = Conv::new(tenant, "Ana Early", "15550000001", Channel::Whatsapp);
    let mut late = Conv::new(tenant, "Ana Late", "15550000002", Channel::Whatsapp);
    // Each name is written once, with its first message; the last activity moves on after.
    index.apply(&[early.message(Sender::Customer, "hi", 0), late.message(Sender::Customer, "hi", 1)], 2).unwrap();
    index.apply(&[late.message(Sender::Customer, "hello", 60 * 24)], 1).unwrap();
    let c = caller(tenant);
    assert_eq!(ids(&index, &c, "ana on:2031-03-02"), vec![early.doc.id]);
    assert_eq!(ids(&index, &c, "ana on:2031-03-03"), vec![late.doc.id]);
    assert_eq!(ids(&index, &c, "ana after:2031-03-04"), Vec::<Uuid>::new());
    let p = plan(&parse("ana").unwrap(), &directory(None)).unwrap();
    let recent = index.search_conversations(&c, &p, Page { order: Order::Recent, facets: true, ..page() }).unwrap();
    assert_eq!(hit_ids(&recent), vec![late.doc.id, early.doc.id], "newest activity first");
    assert_eq!(recent.facets.unwrap().total, 2);
    let p = plan(&parse("ana on:2031-03-03").unwrap(), &directory(None)).unwrap();
    let dated = index.search_conversations(&c, &p, Page { facets: true, ..page() }).unwrap();
    assert_eq!(dated.facets.unwrap().total, 1, "the count follows the date too");
}
