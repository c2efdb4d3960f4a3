//! Who a plugin is cannot be chosen by the plugin: events carry the name of the context they
//! were published through, contexts made up elsewhere are told apart, and names follow the
//! attribute's rules at run time too.

use plugin_core::{Context, EventBus, PluginMetadata, check_name};

#[derive(Clone, Debug, PartialEq)]
struct Roll(u32);

#[tokio::test]
async fn an_event_is_stamped_with_the_context_it_went_through() {
    let dice = Context::detached(PluginMetadata::new("dice"));
    let mut rolls = dice.subscribe::<Roll>();
    assert_eq!(dice.publish(Roll(6)), 1);
    let roll = rolls.recv_stamped().await.unwrap();
    assert_eq!(roll.sender(), Some("dice"));
    assert_eq!(roll.into_event(), Roll(6));
}

#[tokio::test]
async fn a_made_up_context_does_not_reach_the_real_bus() {
    let dice = Context::detached(PluginMetadata::new("dice"));
    let mut rolls = dice.subscribe::<Roll>();
    let impostor = Context::detached(PluginMetadata::new("dice"));
    assert_eq!(
        impostor.publish(Roll(1)),
        0,
        "its own bus has no subscriber"
    );
    assert!(!dice.is_sibling_of(&impostor));
    assert!(dice.is_sibling_of(&dice.clone()));
    assert_eq!(rolls.try_recv(), None);
}

#[tokio::test]
async fn what_the_host_publishes_has_no_sender() {
    let bus = EventBus::new();
    let mut rolls = bus.subscribe::<Roll>("host");
    bus.publish(Roll(2));
    assert_eq!(rolls.recv_stamped().await.unwrap().sender(), None);
}

#[test]
fn runtime_names_follow_the_attributes_rules() {
    for good in ["dice", "dice-stats", "dice_2", "7"] {
        assert!(check_name(good).is_ok(), "{good:?}");
        assert!(PluginMetadata::try_new(good).is_ok(), "{good:?}");
    }
    for bad in [
        "",
        "a b",
        "Dice",
        "dice\n",
        "\u{1b}[31mdice",
        "dïce",
        "dice.stats",
    ] {
        let error = PluginMetadata::try_new(bad).unwrap_err();
        assert_eq!(error.name, bad);
        let shown = error.to_string();
        assert!(
            !shown.contains('\n') && !shown.contains('\u{1b}'),
            "{shown:?}"
        );
        if !bad.is_empty() {
            assert!(shown.contains(&format!("{bad:?}")), "{shown}");
        }
    }
    assert_eq!(
        check_name("").unwrap_err().to_string(),
        "a plugin name must not be empty"
    );
}
