//! The catalog's public and admin surfaces, over gRPC, on SQLite and
//! PostgreSQL: the seed, countries with price, stock and arrival time,
//! activation prices, rental pricing and inventory, the admin's checks,
//! imports, and who may call what.

mod common;

use common::*;
use numhub_catalog::seed;
use numhub_proto::ACCESS_RULES;
use numhub_proto::catalog::v1 as pb;
use numhub_proto::common::v1::{Credential, Money, Scope};
use numhub_runtime::clock::SharedClock;
use numhub_testkit::backend_tests;
use numhub_testkit::raw::call_empty;
use numhub_testkit::tokens::v1;
use tonic::Code;

const VOIP: pb::NumberType = pb::NumberType::Voip;
const NON_VOIP: pb::NumberType = pb::NumberType::NonVoip;
const ONE_DAY: pb::RentalDuration = pb::RentalDuration::OneDay;
const SEVEN_DAYS: pb::RentalDuration = pb::RentalDuration::SevenDays;
const ONE_MONTH: pb::RentalDuration = pb::RentalDuration::OneMonth;

backend_tests! {
    async fn the_seed_is_listed_in_pages_and_reloads_without_duplicates(backend: Backend) {
        let mut h = start(backend).await;
        let (services, pages) = all_services(&mut h, 10).await;
        let codes: Vec<&str> = services.iter().map(|s| s.code.as_str()).collect();
        assert!(codes.len() >= 40, "{} services", codes.len());
        assert_eq!(codes.len(), seed::SERVICES.len());
        assert_eq!(pages, codes.len().div_ceil(10));
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats: {codes:?}");
        let wa = services.iter().find(|s| s.code == "wa").expect("wa");
        assert_eq!((wa.name.as_str(), wa.domain.as_str()), ("WhatsApp", "whatsapp.com"));
        assert!(services.iter().all(|s| !s.disabled));

        let countries = list_countries(&mut h, "").await;
        assert!(countries.len() >= 30, "{} countries", countries.len());
        assert_eq!(countries.len(), seed::COUNTRIES.len());
        let codes: Vec<&str> = countries.iter().map(|o| country_of(o).code.as_str()).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats: {codes:?}");
        let us = country_of(offer(&countries, "US").expect("US"));
        assert_eq!((us.activate_id, us.dial_prefix.as_str()), (187, "+1"));
        assert_eq!(us.name, "United States");
        let gb = country_of(offer(&countries, "GB").expect("GB"));
        assert_eq!((gb.activate_id, gb.dial_prefix.as_str()), (16, "+44"));
        // Without a service: no price, no arrival time, and no numbers yet.
        for o in &countries {
            assert!(o.price.is_none() && o.average_arrival_time.is_none(), "{o:?}");
            assert_eq!(o.stock, 0, "{o:?}");
        }

        // An operator's edits, then the seed loaded again on the same database.
        upsert_service(&mut h, service("wa", "WhatsApp Business", false)).await.unwrap();
        upsert_operator(&mut h, operator("US", "tmobile", "T-Mobile US", true)).await.unwrap();
        let clock: SharedClock = h.clock.clone();
        numhub_catalog::Catalog::new(h.db.db.clone(), clock, common::settings())
            .await
            .expect("the seed loads again");

        let (again, _) = all_services(&mut h, 10).await;
        assert_eq!(again.len(), services.len());
        let wa = again.iter().find(|s| s.code == "wa").expect("wa");
        assert_eq!((wa.name.as_str(), wa.domain.as_str()), ("WhatsApp Business", ""));
        assert_eq!(list_countries(&mut h, "").await.len(), countries.len());
        let operators = operators(&mut h, "US").await;
        let summary: Vec<(&str, &str, bool)> = operators
            .iter()
            .map(|o| (o.code.as_str(), o.name.as_str(), o.disabled))
            .collect();
        assert_eq!(
            summary,
            [
                ("att", "AT&T", false),
                ("tmobile", "T-Mobile US", true),
                ("verizon", "Verizon", false),
            ]
        );
    }

    async fn countries_for_a_service_show_lowest_price_fresh_stock_and_arrival(backend: Backend) {
        let mut h = start(backend).await;
        h.set_price("wa", "US", "", 50).await;
        h.set_price("wa", "US", "att", 30).await;
        h.set_price("wa", "US", "verizon", 70).await;
        h.set_price("wa", "GB", "", 40).await;
        h.set_price("tg", "US", "", 20).await;
        assert_eq!(h.import(us_numbers(0, 3, "", VOIP)).await.imported_count, 3);
        assert_eq!(h.import(gb_numbers(0, 2)).await.imported_count, 2);

        let wa = list_countries(&mut h, "wa").await;
        let codes: Vec<&str> = wa.iter().map(|o| country_of(o).code.as_str()).collect();
        assert_eq!(codes, ["GB", "US"], "only where wa has a price");
        let us = offer(&wa, "US").unwrap();
        assert_eq!(us.price, usd(30), "the lowest of the general and operators' prices");
        assert_eq!((us.stock, us.average_arrival_time), (3, None));
        let gb = offer(&wa, "GB").unwrap();
        assert_eq!((gb.price.clone(), gb.stock), (usd(40), 2));
        let tg = list_countries(&mut h, "tg").await;
        assert_eq!(tg.len(), 1);
        assert_eq!(country_of(&tg[0]).code, "US");
        assert_eq!(tg[0].price, usd(20));

        // A number leased for wa and released is free again, but never for wa.
        let account = h.customer.account_id.clone();
        let lease = h.lease(h.activation(&account, "wa", "r1")).await.unwrap();
        assert_eq!((h.stock("wa", "US").await, h.stock("tg", "US").await), (2, 2));
        h.release(&lease.id).await;
        assert_eq!((h.stock("wa", "US").await, h.stock("tg", "US").await), (2, 3));
        let all = list_countries(&mut h, "").await;
        assert_eq!(offer(&all, "US").unwrap().stock, 3, "without a service: the whole stock");
        h.advance_minutes(60);
        h.catalog.sweep().await.unwrap();
        assert_eq!((h.stock("wa", "US").await, h.stock("tg", "US").await), (2, 3));
        assert_eq!(h.stock("wa", "GB").await, 2);
        h.assert_counters_match_inventory("wa").await;
        h.assert_counters_match_inventory("tg").await;

        // The average arrival time appears once arrivals are recorded.
        record_arrival(&mut h, "wa", "US", 10).await;
        record_arrival(&mut h, "wa", "US", 20).await;
        let wa = list_countries(&mut h, "wa").await;
        let fifteen = prost_types::Duration { seconds: 15, nanos: 0 };
        assert_eq!(offer(&wa, "US").unwrap().average_arrival_time, Some(fifteen));
        assert_eq!(offer(&wa, "GB").unwrap().average_arrival_time, None);
        let tg = list_countries(&mut h, "tg").await;
        assert_eq!(offer(&tg, "US").unwrap().average_arrival_time, None, "wa's, not tg's");
    }

    async fn countries_of_an_unknown_malformed_or_disabled_service_are_refused(backend: Backend) {
        let mut h = start(backend).await;
        h.set_price("tg", "US", "", 20).await;
        assert_not_found(h.public.list_countries(countries_request("zz")).await);
        let malformed = h.public.list_countries(countries_request("WA")).await;
        assert_eq!(invalid_fields(malformed), ["service_code"]);
        let forged = pb::ListCountriesRequest {
            page_token: "forged".into(),
            ..Default::default()
        };
        assert_eq!(invalid_fields(h.public.list_countries(forged).await), ["page_token"]);

        let stored = upsert_service(&mut h, service("tg", "Telegram", true)).await.unwrap();
        assert!(stored.disabled);
        assert_not_found(h.public.list_countries(countries_request("tg")).await);
        let (services, _) = all_services(&mut h, 500).await;
        assert!(services.iter().all(|s| s.code != "tg"));
        assert!(services.iter().any(|s| s.code == "wa"));
        assert!(list_prices(&mut h, "", "").await.is_empty(), "a disabled service's prices");

        upsert_service(&mut h, service("tg", "Telegram", false)).await.unwrap();
        assert_eq!(list_countries(&mut h, "tg").await.len(), 1);
        assert_eq!(list_prices(&mut h, "", "").await.len(), 1);
    }

    async fn prices_filter_by_service_and_country_and_page_in_key_order(backend: Backend) {
        let mut h = start(backend).await;
        h.set_price("wa", "US", "att", 35).await;
        h.set_price("wa", "US", "", 50).await;
        h.set_price("wa", "GB", "", 40).await;
        h.set_price("tg", "US", "", 20).await;
        h.set_price("tg", "GB", "ee", 25).await;

        let mut keys = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = pb::ListPricesRequest {
                page_size: 1,
                page_token,
                ..Default::default()
            };
            let page = h.public.list_prices(request).await.unwrap().into_inner();
            assert_eq!(page.prices.len(), 1, "{page:?}");
            keys.extend(price_keys(&page.prices));
            page_token = page.next_page_token;
            if page_token.is_empty() {
                break;
            }
            assert!(keys.len() <= 5, "paging does not end: {keys:?}");
        }
        let expected = [
            ("tg", "GB", "ee"),
            ("tg", "US", ""),
            ("wa", "GB", ""),
            ("wa", "US", ""),
            ("wa", "US", "att"),
        ];
        assert_eq!(keys, expected.map(owned));

        let all = list_prices(&mut h, "", "").await;
        assert_eq!(price_keys(&all), expected.map(owned));
        assert_eq!(all[4].price, usd(35));
        assert!(all[4].update_time.is_some());
        let wa = list_prices(&mut h, "wa", "").await;
        assert_eq!(price_keys(&wa), [expected[2], expected[3], expected[4]].map(owned));
        let us = list_prices(&mut h, "", "US").await;
        assert_eq!(price_keys(&us), [expected[1], expected[3], expected[4]].map(owned));
        let wa_us = list_prices(&mut h, "wa", "US").await;
        assert_eq!(price_keys(&wa_us), [expected[3], expected[4]].map(owned));
        assert!(list_prices(&mut h, "fb", "").await.is_empty());

        let tokens = ["forged".to_string(), v1("wa"), v1("wa/US")];
        for forged in tokens {
            let request = pb::ListPricesRequest {
                page_token: forged.clone(),
                ..Default::default()
            };
            let fields = invalid_fields(h.public.list_prices(request).await);
            assert_eq!(fields, ["page_token"], "{forged}");
        }
        let request = pb::ListPricesRequest {
            country_code: "usa".into(),
            ..Default::default()
        };
        assert_eq!(invalid_fields(h.public.list_prices(request).await), ["country_code"]);
    }

    async fn rental_pricing_lists_the_routes_with_a_plan_and_stock(backend: Backend) {
        let mut h = start(backend).await;
        assert_not_found(rental_pricing(&mut h, "US", "").await);

        h.set_plan("US", VOIP, "", ONE_MONTH, 500).await;
        h.set_plan("US", VOIP, "", ONE_DAY, 100).await;
        h.set_plan("US", NON_VOIP, "", ONE_MONTH, 900).await;
        h.set_plan("GB", VOIP, "", ONE_DAY, 120).await;
        let discounted = pb::SetRentalPlanRequest {
            original_price: usd(400),
            ..plan_request("US", VOIP, "", SEVEN_DAYS, 300)
        };
        let plan = h.admin.set_rental_plan(discounted).await.unwrap().into_inner();
        assert_eq!((plan.price, plan.original_price), (usd(300), usd(400)));
        // Plans, but no number in stock.
        assert_not_found(rental_pricing(&mut h, "US", "").await);
        assert!(list_rental_pricing(&mut h, "").await.is_empty());

        h.import(us_numbers(0, 2, "", VOIP)).await;
        let us = rental_pricing(&mut h, "US", "").await.unwrap();
        assert_eq!(country_of_pricing(&us).code, "US");
        let voip = [
            package(VOIP, ONE_DAY, "", 100),
            package(VOIP, SEVEN_DAYS, "", 300),
            package(VOIP, ONE_MONTH, "", 500),
        ];
        assert_eq!(packages(&us), voip, "VoIP only: no non-VoIP number is in stock");
        assert_eq!(us.packages[1].original_price, usd(400));
        assert_eq!(us.packages[0].original_price, None);
        assert!(us.packages.iter().all(|p| p.country_code == "US" && p.update_time.is_some()));

        // GB has a plan but no numbers, DE neither: only US has an active route.
        let listed = list_rental_pricing(&mut h, "").await;
        let countries: Vec<&str> =
            listed.iter().map(|r| country_of_pricing(r).code.as_str()).collect();
        assert_eq!(countries, ["US"]);
        assert_eq!(packages(&listed[0]), voip);

        h.import(vec![number("+15559000000", "US", "", NON_VOIP)]).await;
        let us = rental_pricing(&mut h, "US", "").await.unwrap();
        assert_eq!(us.packages.len(), 4);
        assert_eq!(packages(&us)[3], package(NON_VOIP, ONE_MONTH, "", 900));

        assert_not_found(rental_pricing(&mut h, "ZZ", "").await);
        assert_eq!(invalid_fields(rental_pricing(&mut h, "usa", "").await), ["country_code"]);
        assert_not_found(rental_pricing(&mut h, "US", "zz").await);
    }

    async fn a_service_plan_replaces_the_general_one_for_that_service_only(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 2, "", VOIP)).await;
        h.set_plan("US", VOIP, "", ONE_DAY, 100).await;
        h.set_plan("US", VOIP, "", ONE_MONTH, 500).await;
        h.set_plan("US", VOIP, "wa", ONE_MONTH, 450).await;
        h.set_plan("US", VOIP, "wa", SEVEN_DAYS, 250).await;
        // A country with only a service's plan has no general route.
        h.import(gb_numbers(0, 1)).await;
        h.set_plan("GB", VOIP, "wa", ONE_DAY, 90).await;

        let general = vec![package(VOIP, ONE_DAY, "", 100), package(VOIP, ONE_MONTH, "", 500)];
        let for_wa = vec![
            package(VOIP, ONE_DAY, "", 100),
            package(VOIP, SEVEN_DAYS, "wa", 250),
            package(VOIP, ONE_MONTH, "wa", 450),
        ];
        assert_eq!(packages(&rental_pricing(&mut h, "US", "").await.unwrap()), general);
        assert_eq!(packages(&rental_pricing(&mut h, "US", "wa").await.unwrap()), for_wa);
        assert_eq!(packages(&rental_pricing(&mut h, "US", "tg").await.unwrap()), general);
        assert_not_found(rental_pricing(&mut h, "GB", "").await);
        let gb_wa = rental_pricing(&mut h, "GB", "wa").await.unwrap();
        assert_eq!(packages(&gb_wa), [package(VOIP, ONE_DAY, "wa", 90)]);

        let routes = |listed: Vec<pb::RentalPricing>| -> Vec<(String, Vec<Package>)> {
            listed.iter().map(|r| (country_of_pricing(r).code.clone(), packages(r))).collect()
        };
        let listed = routes(list_rental_pricing(&mut h, "").await);
        assert_eq!(listed, [("US".to_string(), general)]);
        let listed = routes(list_rental_pricing(&mut h, "wa").await);
        let gb_wa = vec![package(VOIP, ONE_DAY, "wa", 90)];
        assert_eq!(listed, [("GB".to_string(), gb_wa), ("US".to_string(), for_wa)]);
    }

    async fn check_inventory_defaults_to_the_route_and_counts_its_type(backend: Backend) {
        let mut h = start(backend).await;
        assert_not_found(check_inventory(&mut h, "US", None, None).await);

        // Non-VoIP plans only, none of one month: non-VoIP, the shortest.
        h.set_plan("US", NON_VOIP, "", SEVEN_DAYS, 300).await;
        h.set_plan("US", NON_VOIP, "", ONE_DAY, 100).await;
        let status = check_inventory(&mut h, "US", None, None).await.unwrap();
        assert_eq!(inventory(&status), ("US", NON_VOIP, ONE_DAY, 0, false));
        h.import(us_numbers(0, 2, "", NON_VOIP)).await;
        h.import(us_numbers(10, 3, "", VOIP)).await;
        let status = check_inventory(&mut h, "US", None, None).await.unwrap();
        assert_eq!(inventory(&status), ("US", NON_VOIP, ONE_DAY, 2, true));

        // A VoIP plan makes VoIP the default; one month when there is one.
        h.set_plan("US", VOIP, "", ONE_DAY, 100).await;
        h.set_plan("US", VOIP, "", ONE_MONTH, 500).await;
        let status = check_inventory(&mut h, "US", None, None).await.unwrap();
        assert_eq!(inventory(&status), ("US", VOIP, ONE_MONTH, 3, true));
        let status = check_inventory(&mut h, "US", Some(SEVEN_DAYS), Some(NON_VOIP)).await;
        assert_eq!(inventory(&status.unwrap()), ("US", NON_VOIP, SEVEN_DAYS, 2, true));
        let status = check_inventory(&mut h, "US", Some(ONE_DAY), None).await.unwrap();
        assert_eq!(inventory(&status), ("US", VOIP, ONE_DAY, 3, true));
        // No plan for the duration and type; a service's own plan is no route.
        h.set_plan("US", VOIP, "wa", SEVEN_DAYS, 250).await;
        for (duration, number_type) in [(ONE_MONTH, NON_VOIP), (SEVEN_DAYS, VOIP)] {
            let missing = check_inventory(&mut h, "US", Some(duration), Some(number_type)).await;
            assert_not_found(missing);
        }

        // Every VoIP number rented: out of stock until the rentals end.
        let account = h.customer.account_id.clone();
        for i in 0..3 {
            h.lease(h.rental(&account, &format!("rent-{i}"))).await.unwrap();
        }
        let status = check_inventory(&mut h, "US", None, None).await.unwrap();
        assert_eq!(inventory(&status), ("US", VOIP, ONE_MONTH, 0, false));
        let status = check_inventory(&mut h, "US", None, Some(NON_VOIP)).await.unwrap();
        assert_eq!(inventory(&status), ("US", NON_VOIP, ONE_DAY, 2, true));
        let route = rental_pricing(&mut h, "US", "").await.unwrap();
        let non_voip = [
            package(NON_VOIP, ONE_DAY, "", 100),
            package(NON_VOIP, SEVEN_DAYS, "", 300),
        ];
        assert_eq!(packages(&route), non_voip);
        // A day of rental and the hour of quarantine later, the sweep counts them.
        h.advance_minutes(25 * 60);
        assert_eq!(h.catalog.sweep().await.unwrap(), 3);
        let status = check_inventory(&mut h, "US", None, None).await.unwrap();
        assert_eq!(inventory(&status), ("US", VOIP, ONE_MONTH, 3, true));

        assert_not_found(check_inventory(&mut h, "ZZ", None, None).await);
        let malformed = pb::CheckInventoryRequest {
            country_code: "usa".into(),
            duration: 42,
            number_type: 9,
        };
        let fields = invalid_fields(h.public.check_inventory(malformed).await);
        assert_eq!(fields, ["country_code", "duration", "number_type"]);
    }

    async fn reference_data_upserts_check_their_references(backend: Backend) {
        let mut h = start(backend).await;
        let taken = upsert_country(&mut h, country("XA", "+999", 187)).await;
        let status = assert_status(taken, Code::FailedPrecondition, "ACTIVATE_ID_TAKEN");
        assert!(status.message().contains("187"), "{status:?}");
        let taken = upsert_country(&mut h, country("XA", "+999", 0)).await;
        assert_status(taken, Code::FailedPrecondition, "ACTIVATE_ID_TAKEN");
        // A country keeps its own id; a new one takes a free id.
        upsert_country(&mut h, country("US", "+1", 187)).await.unwrap();
        let xa = upsert_country(&mut h, country("XA", "+999", 9999)).await.unwrap();
        assert_eq!((xa.code.as_str(), xa.activate_id, xa.disabled), ("XA", 9999, false));
        let countries = list_countries(&mut h, "").await;
        assert_eq!(country_of(offer(&countries, "XA").unwrap()), &xa);
        let taken = upsert_country(&mut h, country("US", "+1", 9999)).await;
        assert_status(taken, Code::FailedPrecondition, "ACTIVATE_ID_TAKEN");
        let bad = pb::Country {
            code: "usa".into(),
            name: " ".into(),
            dial_prefix: "44".into(),
            activate_id: -1,
            disabled: false,
        };
        assert_eq!(
            invalid_fields(upsert_country(&mut h, bad).await),
            ["country.code", "country.name", "country.dial_prefix", "country.activate_id"]
        );

        assert_not_found(upsert_operator(&mut h, operator("XB", "mint", "Mint", false)).await);
        let malformed = upsert_operator(&mut h, operator("US", "t-mobile", "", false)).await;
        assert_eq!(invalid_fields(malformed), ["operator.code", "operator.name"]);
        upsert_operator(&mut h, operator("US", "mint", "Mint Mobile", false)).await.unwrap();
        upsert_operator(&mut h, operator("US", "att", "AT&T", true)).await.unwrap();
        let listed = operators(&mut h, "US").await;
        let summary: Vec<(&str, bool)> =
            listed.iter().map(|o| (o.code.as_str(), o.disabled)).collect();
        let expected = [("att", true), ("mint", false), ("tmobile", false), ("verizon", false)];
        assert_eq!(summary, expected);
        assert!(listed.iter().all(|o| o.country_code == "US"));
        assert!(operators(&mut h, "XA").await.is_empty());
        let unknown = pb::ListOperatorsRequest { country_code: "ZZ".into() };
        assert_not_found(h.admin.list_operators(unknown).await);

        let malformed = upsert_service(&mut h, service("W A", "", false)).await;
        assert_eq!(invalid_fields(malformed), ["service.code", "service.name"]);
    }

    async fn activation_prices_are_checked_and_deleted(backend: Backend) {
        let mut h = start(backend).await;
        let in_euros = h.admin.set_activation_price(price_request("wa", "US", "", eur(50))).await;
        assert_eq!(invalid_fields(in_euros), ["price.currency_code"]);
        for price in [usd(0), usd(-5), None] {
            let request = price_request("wa", "US", "", price);
            assert_eq!(invalid_fields(h.admin.set_activation_price(request).await), ["price"]);
        }
        // Unknown operator, service and country; GB's "ee" is no operator of the US.
        let unknown = [
            ("wa", "US", "mint"),
            ("zz", "US", ""),
            ("wa", "XA", ""),
            ("wa", "US", "ee"),
        ];
        for (service, country, operator) in unknown {
            let request = price_request(service, country, operator, usd(50));
            assert_not_found(h.admin.set_activation_price(request).await);
        }
        assert!(list_prices(&mut h, "", "").await.is_empty(), "nothing was stored");

        // No currency means the catalog's.
        let plain = Some(Money { currency_code: String::new(), minor_units: 50 });
        let request = price_request("wa", "US", "", plain);
        let set = h.admin.set_activation_price(request).await.unwrap().into_inner();
        assert_eq!((set.price, set.operator.as_str()), (usd(50), ""));
        assert!(set.update_time.is_some());
        h.set_price("wa", "US", "att", 60).await;
        h.set_price("wa", "US", "", 55).await;
        assert_eq!(offer(&list_countries(&mut h, "wa").await, "US").unwrap().price, usd(55));

        delete_price(&mut h, "wa", "US", "").await;
        let wa = list_countries(&mut h, "wa").await;
        assert_eq!(offer(&wa, "US").unwrap().price, usd(60), "att's own price is left");
        delete_price(&mut h, "wa", "US", "att").await;
        assert!(list_countries(&mut h, "wa").await.is_empty());
        assert!(list_prices(&mut h, "wa", "").await.is_empty());
        // Deleting what is not there is no error.
        delete_price(&mut h, "wa", "US", "att").await;
        delete_price(&mut h, "tg", "GB", "ee").await;
        let malformed = pb::DeleteActivationPriceRequest::default();
        let fields = invalid_fields(h.admin.delete_activation_price(malformed).await);
        assert_eq!(fields, ["service_code", "country_code"]);
    }

    async fn rental_plans_are_checked_and_deleted(backend: Backend) {
        let mut h = start(backend).await;
        let month = || plan_request("US", VOIP, "", ONE_MONTH, 500);
        let below = pb::SetRentalPlanRequest { original_price: usd(499), ..month() };
        assert_eq!(invalid_fields(h.admin.set_rental_plan(below).await), ["original_price"]);
        let zero = pb::SetRentalPlanRequest { original_price: usd(0), ..month() };
        assert_eq!(invalid_fields(h.admin.set_rental_plan(zero).await), ["original_price"]);
        let incomplete = pb::SetRentalPlanRequest {
            country_code: "US".into(),
            price: usd(500),
            ..Default::default()
        };
        let fields = invalid_fields(h.admin.set_rental_plan(incomplete).await);
        assert_eq!(fields, ["number_type", "duration"]);
        let in_euros = pb::SetRentalPlanRequest { price: eur(500), ..month() };
        let fields = invalid_fields(h.admin.set_rental_plan(in_euros).await);
        assert_eq!(fields, ["price.currency_code"]);
        let list_price_in_euros = pb::SetRentalPlanRequest { original_price: eur(600), ..month() };
        let fields = invalid_fields(h.admin.set_rental_plan(list_price_in_euros).await);
        assert_eq!(fields, ["original_price.currency_code"]);
        for (country, service) in [("XA", ""), ("US", "zz")] {
            let request = plan_request(country, VOIP, service, ONE_MONTH, 500);
            assert_not_found(h.admin.set_rental_plan(request).await);
        }

        h.import(us_numbers(0, 1, "", VOIP)).await;
        assert_not_found(rental_pricing(&mut h, "US", "").await);
        let equal = pb::SetRentalPlanRequest { original_price: usd(500), ..month() };
        let plan = h.admin.set_rental_plan(equal).await.unwrap().into_inner();
        assert_eq!((plan.price, plan.original_price), (usd(500), usd(500)));
        // Setting a plan again replaces it, discount included.
        h.set_plan("US", VOIP, "", ONE_MONTH, 450).await;
        h.set_plan("US", VOIP, "", ONE_DAY, 100).await;
        let us = rental_pricing(&mut h, "US", "").await.unwrap();
        let both = [package(VOIP, ONE_DAY, "", 100), package(VOIP, ONE_MONTH, "", 450)];
        assert_eq!(packages(&us), both);
        assert_eq!(us.packages[1].original_price, None);

        delete_plan(&mut h, "US", VOIP, "", ONE_MONTH).await;
        let us = rental_pricing(&mut h, "US", "").await.unwrap();
        assert_eq!(packages(&us), [package(VOIP, ONE_DAY, "", 100)]);
        delete_plan(&mut h, "US", VOIP, "", ONE_MONTH).await;
        delete_plan(&mut h, "US", VOIP, "", ONE_DAY).await;
        assert_not_found(rental_pricing(&mut h, "US", "").await);
        let incomplete = pb::DeleteRentalPlanRequest {
            country_code: "US".into(),
            ..Default::default()
        };
        let fields = invalid_fields(h.admin.delete_rental_plan(incomplete).await);
        assert_eq!(fields, ["number_type", "duration"]);
    }

    async fn an_import_reports_each_bad_row_and_keeps_the_others(backend: Backend) {
        let mut h = start(backend).await;
        let first = h.import(vec![number("+15550000009", "US", "", VOIP)]).await;
        assert_eq!(first.imported_count, 1);
        let rows = vec![
            number("+15550000001", "US", "", VOIP),
            number("12ab", "US", "", VOIP),
            number("+15550000002", "XX", "", VOIP),
            number("+447700900123", "US", "", VOIP),
            number("+15550000003", "US", "nosuch", VOIP),
            number("+15550000004", "US", "", pb::NumberType::Unspecified),
            number("15550000001", "US", "", VOIP),
            number("+15550000009", "US", "", VOIP),
            number("+15550000005", "US", "att", NON_VOIP),
            number("+15550000006", "us", "", VOIP),
            number("+15550000007", "US", "AT&T", VOIP),
        ];
        let report = h.import(rows.clone()).await;
        assert_eq!(report.imported_count, 2);
        use pb::ImportProblem::{AlreadyExists, Invalid, Unknown};
        let expected = [
            (1, "12ab", Invalid, "phone_number"),
            (2, "+15550000002", Unknown, "country_code"),
            (3, "+447700900123", Invalid, "phone_number"),
            (4, "+15550000003", Unknown, "operator"),
            (5, "+15550000004", Invalid, "number_type"),
            (6, "15550000001", AlreadyExists, "phone_number"),
            (7, "+15550000009", AlreadyExists, "phone_number"),
            (9, "+15550000006", Invalid, "country_code"),
            (10, "+15550000007", Invalid, "operator"),
        ];
        assert_eq!(rejections(&report), expected.map(rejection));
        assert!(report.rejected.iter().all(|r| !r.description.is_empty()), "{report:?}");

        let numbers = list_numbers(&mut h, "", 0, "").await.numbers;
        let listed: Vec<(&str, &str, i32)> = numbers
            .iter()
            .map(|n| (n.phone_number.as_str(), n.operator.as_str(), n.number_type))
            .collect();
        let newest_first = [
            ("+15550000005", "att", NON_VOIP as i32),
            ("+15550000001", "", VOIP as i32),
            ("+15550000009", "", VOIP as i32),
        ];
        assert_eq!(listed, newest_first);
        assert!(numbers.iter().all(|n| n.country_code == "US" && n.source == "test bank"));
        let all = list_countries(&mut h, "").await;
        assert_eq!(offer(&all, "US").unwrap().stock, 3);
        assert_eq!(offer(&all, "GB").unwrap().stock, 0);

        // The same rows again: nothing new, the good ones already there.
        let again = h.import(rows).await;
        assert_eq!(again.imported_count, 0);
        let mut expected_again = expected.map(rejection).to_vec();
        expected_again.insert(0, rejection((0, "+15550000001", AlreadyExists, "phone_number")));
        expected_again.insert(8, rejection((8, "+15550000005", AlreadyExists, "phone_number")));
        assert_eq!(rejections(&again), expected_again);
        assert_eq!(list_numbers(&mut h, "", 0, "").await.numbers.len(), 3);
    }

    async fn an_import_takes_one_to_ten_thousand_rows(backend: Backend) {
        let mut h = start(backend).await;
        for rows in [Vec::new(), us_numbers(0, 10_001, "", VOIP)] {
            let request = pb::ImportNumbersRequest { numbers: rows };
            assert_eq!(invalid_fields(h.admin.import_numbers(request).await), ["numbers"]);
        }
        assert!(list_numbers(&mut h, "", 0, "").await.numbers.is_empty());

        let report = h.import(us_numbers(0, 5_000, "tmobile", VOIP)).await;
        assert_eq!(report.imported_count, 5_000);
        assert!(report.rejected.is_empty());
        let all = list_countries(&mut h, "").await;
        assert_eq!(offer(&all, "US").unwrap().stock, 5_000);
        let page = list_numbers(&mut h, "US", 1_000, "").await;
        assert_eq!(page.numbers.len(), 1_000);
        assert_eq!(page.numbers[0].phone_number, "+15550004999", "the last row is the newest");
        assert_ne!(page.next_page_token, "");
        h.assert_counters_match_inventory("wa").await;
    }

    async fn numbers_are_listed_newest_first_with_their_state(backend: Backend) {
        let mut h = start(backend).await;
        h.import(us_numbers(0, 3, "", VOIP)).await;
        h.advance_minutes(1);
        let mut newer = us_numbers(10, 2, "", VOIP);
        newer.extend(gb_numbers(0, 1));
        h.import(newer).await;

        let mut listed = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = list_numbers(&mut h, "", 2, &page_token).await;
            assert!(page.numbers.len() <= 2);
            listed.extend(page.numbers);
            page_token = page.next_page_token;
            if page_token.is_empty() {
                break;
            }
            assert!(listed.len() <= 6, "paging does not end");
        }
        let order: Vec<&str> = listed.iter().map(|n| n.phone_number.as_str()).collect();
        let expected = [
            "+447700900000",
            "+15550000011",
            "+15550000010",
            "+15550000002",
            "+15550000001",
            "+15550000000",
        ];
        assert_eq!(order, expected);
        let created: Vec<i64> = listed.iter().map(|n| n.create_time.unwrap().seconds).collect();
        assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");
        assert_eq!(created[0] - created[5], 60);
        let available = pb::NumberState::Available as i32;
        assert!(listed.iter().all(|n| n.state == available && n.free_time.is_none()));
        let us = list_numbers(&mut h, "US", 0, "").await;
        assert_eq!(us.numbers.len(), 5);
        assert!(us.numbers.iter().all(|n| n.country_code == "US"));

        // An activation holds one number; a released rental rests another.
        h.set_price("wa", "US", "", 50).await;
        h.set_plan("US", VOIP, "", ONE_DAY, 100).await;
        let account = h.customer.account_id.clone();
        let activation = h.lease(h.activation(&account, "wa", "a1")).await.unwrap();
        let rental = h.lease(h.rental(&account, "r1")).await.unwrap();
        h.release(&rental.id).await;
        let numbers = list_numbers(&mut h, "US", 0, "").await.numbers;
        let state = |e164: &str| {
            let n = numbers.iter().find(|n| n.phone_number == e164).unwrap();
            (pb::NumberState::try_from(n.state).unwrap(), n.free_time)
        };
        let leased = state(&activation.phone_number);
        assert_eq!(leased, (pb::NumberState::Leased, activation.expire_time));
        let (rested, free_time) = state(&rental.phone_number);
        assert_eq!(rested, pb::NumberState::Quarantined);
        let quarantine = QUARANTINE.as_secs() as i64;
        let released_at = rental.start_time.unwrap().seconds;
        assert_eq!(free_time.unwrap().seconds, released_at + quarantine);
        let held = [&activation.phone_number, &rental.phone_number];
        let others: Vec<_> = numbers.iter().filter(|n| !held.contains(&&n.phone_number)).collect();
        assert_eq!(others.len(), 3);
        assert!(others.iter().all(|n| n.state == available));
        // After the activation's end its number is available again.
        h.advance_minutes(21);
        let numbers = list_numbers(&mut h, "US", 0, "").await.numbers;
        let ended = numbers.iter().find(|n| n.phone_number == activation.phone_number).unwrap();
        assert_eq!((ended.state, ended.free_time), (available, None));

        let forged = pb::ListNumbersRequest {
            page_token: v1("not-an-id"),
            ..Default::default()
        };
        assert_eq!(invalid_fields(h.admin.list_numbers(forged).await), ["page_token"]);
    }

    async fn quote_rental_prices_a_package_as_a_renewal_would(backend: Backend) {
        let mut h = start(backend).await;
        h.set_plan("US", VOIP, "", ONE_MONTH, 500).await;
        h.set_plan("US", VOIP, "wa", ONE_MONTH, 700).await;
        let quote = |service: &str, duration: pb::RentalDuration| pb::QuoteRentalRequest {
            country_code: "US".into(),
            number_type: VOIP as i32,
            service_code: service.into(),
            duration: duration as i32,
        };
        let general = h.internal.quote_rental(quote("", ONE_MONTH)).await.unwrap().into_inner();
        assert_eq!((general.service_code.as_str(), general.price.unwrap().minor_units), ("", 500));
        // A service's own plan replaces the general one; another service
        // gets the general plan.
        let own = h.internal.quote_rental(quote("wa", ONE_MONTH)).await.unwrap().into_inner();
        assert_eq!((own.service_code.as_str(), own.price.unwrap().minor_units), ("wa", 700));
        let other = h.internal.quote_rental(quote("tg", ONE_MONTH)).await.unwrap().into_inner();
        assert_eq!(other.price.unwrap().minor_units, 500);
        // Today's price: a new price is quoted at once.
        h.set_plan("US", VOIP, "", ONE_MONTH, 550).await;
        let repriced = h.internal.quote_rental(quote("", ONE_MONTH)).await.unwrap().into_inner();
        assert_eq!(repriced.price.unwrap().minor_units, 550);

        assert_status(h.internal.quote_rental(quote("", ONE_DAY)).await, Code::FailedPrecondition, "NOT_OFFERED");
        let mut nowhere = quote("", ONE_MONTH);
        nowhere.country_code = "ZZ".into();
        assert_eq!(h.internal.quote_rental(nowhere).await.unwrap_err().code(), Code::NotFound);
        let bad = pb::QuoteRentalRequest { country_code: "usa".into(), number_type: 0, service_code: "W A".into(), duration: 0 };
        assert_eq!(
            invalid_fields(h.internal.quote_rental(bad).await),
            ["country_code", "number_type", "service_code", "duration"]
        );
    }

    async fn every_catalog_rpc_refuses_a_caller_without_its_credential(backend: Backend) {
        let h = start(backend).await;
        let customer = h.stack.customer("browser", &[Scope::Read]).await;
        let admin = h.stack.admin_key.clone();
        let rules: Vec<_> =
            ACCESS_RULES.iter().filter(|r| r.path.starts_with("/numhub.catalog.")).collect();
        // catalog.proto: 6 public, 10 admin and 9 internal RPCs.
        assert_eq!(rules.len(), 25);
        let count = |credential: Credential, scope: Scope| {
            rules.iter().filter(|r| r.credential == credential && r.scope == scope).count()
        };
        assert_eq!(count(Credential::ApiKey, Scope::Read), 6);
        assert_eq!(count(Credential::ApiKey, Scope::Admin), 10);
        assert_eq!(count(Credential::Service, Scope::Unspecified), 9);
        let customer_key = format!("Bearer {}", customer.key);
        let admin_key = format!("Bearer {admin}");
        for rule in rules {
            let path = rule.path;
            let channel = h.server.channel();
            let anonymous = call_empty(channel.clone(), path, None).await;
            assert_eq!(anonymous.code(), Code::Unauthenticated, "{path}: {anonymous:?}");
            match rule.credential {
                Credential::Service => {
                    for key in [&customer_key, &admin_key] {
                        let status = call_empty(channel.clone(), path, Some(key)).await;
                        assert_eq!(status.code(), Code::PermissionDenied, "{path}: {status:?}");
                        assert_eq!(reason(&status), "SERVICE_CREDENTIAL_REQUIRED", "{path}");
                    }
                }
                Credential::ApiKey if rule.scope == Scope::Admin => {
                    let status = call_empty(channel.clone(), path, Some(&customer_key)).await;
                    assert_eq!(status.code(), Code::PermissionDenied, "{path}: {status:?}");
                    assert_eq!(reason(&status), "MISSING_SCOPE", "{path}");
                }
                _ => {
                    let status = call_empty(channel.clone(), path, Some(&customer_key)).await;
                    let refused = [Code::Unauthenticated, Code::PermissionDenied];
                    assert!(!refused.contains(&status.code()), "{path}: {status:?}");
                }
            }
        }
    }
}

/// A rental package: number type, duration, service and price.
type Package = (pb::NumberType, pb::RentalDuration, String, i64);

/// A rejected row of an import: index, number, problem and field.
type Rejection = (i32, String, pb::ImportProblem, String);

/// Every enabled service, following the page tokens; and how many pages.
async fn all_services(h: &mut Harness, page_size: i32) -> (Vec<pb::Service>, usize) {
    let mut services = Vec::new();
    let mut pages = 0;
    let mut page_token = String::new();
    loop {
        let request = pb::ListServicesRequest {
            page_size,
            page_token,
        };
        let page = h.public.list_services(request).await.unwrap().into_inner();
        assert!(page.services.len() <= page_size as usize);
        pages += 1;
        services.extend(page.services);
        page_token = page.next_page_token;
        if page_token.is_empty() {
            return (services, pages);
        }
        assert!(pages < 1_000, "paging does not end");
    }
}

fn countries_request(service: &str) -> pb::ListCountriesRequest {
    pb::ListCountriesRequest {
        service_code: service.into(),
        ..Default::default()
    }
}

/// ListCountries' only page (up to 300 countries).
async fn list_countries(h: &mut Harness, service: &str) -> Vec<pb::CountryOffer> {
    let request = countries_request(service);
    let page = h.public.list_countries(request).await.unwrap().into_inner();
    assert_eq!(page.next_page_token, "");
    page.countries
}

fn offer<'a>(offers: &'a [pb::CountryOffer], country: &str) -> Option<&'a pb::CountryOffer> {
    offers.iter().find(|o| country_of(o).code == country)
}

fn country_of(offer: &pb::CountryOffer) -> &pb::Country {
    offer.country.as_ref().expect("country")
}

fn country_of_pricing(pricing: &pb::RentalPricing) -> &pb::Country {
    pricing.country.as_ref().expect("country")
}

/// ListPrices' only page.
async fn list_prices(h: &mut Harness, service: &str, country: &str) -> Vec<pb::ActivationPrice> {
    let request = pb::ListPricesRequest {
        service_code: service.into(),
        country_code: country.into(),
        ..Default::default()
    };
    let page = h.public.list_prices(request).await.unwrap().into_inner();
    assert_eq!(page.next_page_token, "");
    page.prices
}

fn price_keys(prices: &[pb::ActivationPrice]) -> Vec<(String, String, String)> {
    prices
        .iter()
        .map(|p| {
            (
                p.service_code.clone(),
                p.country_code.clone(),
                p.operator.clone(),
            )
        })
        .collect()
}

fn owned((service, country, operator): (&str, &str, &str)) -> (String, String, String) {
    (service.into(), country.into(), operator.into())
}

fn eur(minor_units: i64) -> Option<Money> {
    Some(Money {
        currency_code: "EUR".into(),
        minor_units,
    })
}

fn price_request(
    service: &str,
    country: &str,
    operator: &str,
    price: Option<Money>,
) -> pb::SetActivationPriceRequest {
    pb::SetActivationPriceRequest {
        service_code: service.into(),
        country_code: country.into(),
        operator: operator.into(),
        price,
    }
}

async fn delete_price(h: &mut Harness, service: &str, country: &str, operator: &str) {
    let request = pb::DeleteActivationPriceRequest {
        service_code: service.into(),
        country_code: country.into(),
        operator: operator.into(),
    };
    h.admin.delete_activation_price(request).await.unwrap();
}

fn plan_request(
    country: &str,
    number_type: pb::NumberType,
    service: &str,
    duration: pb::RentalDuration,
    price: i64,
) -> pb::SetRentalPlanRequest {
    pb::SetRentalPlanRequest {
        country_code: country.into(),
        number_type: number_type as i32,
        service_code: service.into(),
        duration: duration as i32,
        price: usd(price),
        original_price: None,
    }
}

async fn delete_plan(
    h: &mut Harness,
    country: &str,
    number_type: pb::NumberType,
    service: &str,
    duration: pb::RentalDuration,
) {
    let request = pb::DeleteRentalPlanRequest {
        country_code: country.into(),
        number_type: number_type as i32,
        service_code: service.into(),
        duration: duration as i32,
    };
    h.admin.delete_rental_plan(request).await.unwrap();
}

async fn rental_pricing(
    h: &mut Harness,
    country: &str,
    service: &str,
) -> Result<pb::RentalPricing, tonic::Status> {
    let request = pb::GetRentalPricingRequest {
        country_code: country.into(),
        service_code: service.into(),
    };
    Ok(h.public.get_rental_pricing(request).await?.into_inner())
}

/// ListRentalPricing's only page.
async fn list_rental_pricing(h: &mut Harness, service: &str) -> Vec<pb::RentalPricing> {
    let request = pb::ListRentalPricingRequest {
        service_code: service.into(),
        ..Default::default()
    };
    let page = h
        .public
        .list_rental_pricing(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.next_page_token, "");
    page.countries
}

fn package(
    number_type: pb::NumberType,
    duration: pb::RentalDuration,
    service: &str,
    price: i64,
) -> Package {
    (number_type, duration, service.into(), price)
}

fn packages(pricing: &pb::RentalPricing) -> Vec<Package> {
    pricing
        .packages
        .iter()
        .map(|p| {
            (
                pb::NumberType::try_from(p.number_type).expect("number type"),
                pb::RentalDuration::try_from(p.duration).expect("duration"),
                p.service_code.clone(),
                units(&p.price),
            )
        })
        .collect()
}

async fn check_inventory(
    h: &mut Harness,
    country: &str,
    duration: Option<pb::RentalDuration>,
    number_type: Option<pb::NumberType>,
) -> Result<pb::InventoryStatus, tonic::Status> {
    let request = pb::CheckInventoryRequest {
        country_code: country.into(),
        duration: duration.map_or(0, |d| d as i32),
        number_type: number_type.map_or(0, |t| t as i32),
    };
    Ok(h.public.check_inventory(request).await?.into_inner())
}

/// An inventory status as (country, type, duration, stock, available).
fn inventory(
    status: &pb::InventoryStatus,
) -> (&str, pb::NumberType, pb::RentalDuration, i64, bool) {
    (
        status.country_code.as_str(),
        pb::NumberType::try_from(status.number_type).expect("number type"),
        pb::RentalDuration::try_from(status.duration).expect("duration"),
        status.stock,
        status.available,
    )
}

async fn record_arrival(h: &mut Harness, service: &str, country: &str, seconds: i64) {
    let request = pb::RecordArrivalRequest {
        service_code: service.into(),
        country_code: country.into(),
        arrival_time: Some(prost_types::Duration { seconds, nanos: 0 }),
    };
    h.internal.record_arrival(request).await.unwrap();
}

fn service(code: &str, name: &str, disabled: bool) -> pb::Service {
    pb::Service {
        code: code.into(),
        name: name.into(),
        domain: String::new(),
        disabled,
    }
}

fn operator(country: &str, code: &str, name: &str, disabled: bool) -> pb::Operator {
    pb::Operator {
        country_code: country.into(),
        code: code.into(),
        name: name.into(),
        disabled,
    }
}

fn country(code: &str, dial_prefix: &str, activate_id: i32) -> pb::Country {
    pb::Country {
        code: code.into(),
        name: format!("Country {code}"),
        dial_prefix: dial_prefix.into(),
        activate_id,
        disabled: false,
    }
}

async fn upsert_service(
    h: &mut Harness,
    service: pb::Service,
) -> Result<pb::Service, tonic::Status> {
    let request = pb::UpsertServiceRequest {
        service: Some(service),
    };
    Ok(h.admin.upsert_service(request).await?.into_inner())
}

async fn upsert_country(
    h: &mut Harness,
    country: pb::Country,
) -> Result<pb::Country, tonic::Status> {
    let request = pb::UpsertCountryRequest {
        country: Some(country),
    };
    Ok(h.admin.upsert_country(request).await?.into_inner())
}

async fn upsert_operator(
    h: &mut Harness,
    operator: pb::Operator,
) -> Result<pb::Operator, tonic::Status> {
    let request = pb::UpsertOperatorRequest {
        operator: Some(operator),
    };
    Ok(h.admin.upsert_operator(request).await?.into_inner())
}

async fn operators(h: &mut Harness, country: &str) -> Vec<pb::Operator> {
    let request = pb::ListOperatorsRequest {
        country_code: country.into(),
    };
    let response = h.admin.list_operators(request).await.unwrap();
    response.into_inner().operators
}

/// One row of an import.
fn number(
    phone_number: &str,
    country: &str,
    operator: &str,
    number_type: pb::NumberType,
) -> pb::NumberImport {
    pb::NumberImport {
        phone_number: phone_number.into(),
        country_code: country.into(),
        operator: operator.into(),
        number_type: number_type as i32,
        source: "test bank".into(),
    }
}

/// `count` VoIP numbers of the UK, +447700900NNN from `first`.
fn gb_numbers(first: u32, count: u32) -> Vec<pb::NumberImport> {
    (first..first + count)
        .map(|n| number(&format!("+447700900{n:03}"), "GB", "", pb::NumberType::Voip))
        .collect()
}

async fn list_numbers(
    h: &mut Harness,
    country: &str,
    page_size: i32,
    page_token: &str,
) -> pb::ListNumbersResponse {
    let request = pb::ListNumbersRequest {
        country_code: country.into(),
        page_size,
        page_token: page_token.into(),
    };
    h.admin.list_numbers(request).await.unwrap().into_inner()
}

fn rejection((index, number, problem, field): (i32, &str, pb::ImportProblem, &str)) -> Rejection {
    (index, number.into(), problem, field.into())
}

fn rejections(report: &pb::ImportNumbersResponse) -> Vec<Rejection> {
    report
        .rejected
        .iter()
        .map(|r| {
            (
                r.index,
                r.phone_number.clone(),
                pb::ImportProblem::try_from(r.problem).expect("problem"),
                r.field.clone(),
            )
        })
        .collect()
}

/// The fields an INVALID_ARGUMENT answer names.
#[track_caller]
fn invalid_fields<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Vec<String> {
    let status = assert_status(result, Code::InvalidArgument, "INVALID_FIELD");
    bad_fields(&status)
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, tonic::Status>) {
    assert_status(result, Code::NotFound, "RESOURCE_NOT_FOUND");
}
