//! Search (issue #30): the pages of `search_results` for the query asked last, gathered in
//! the order they came; the answer to an older query (typed over since) is dropped.

use shared::search::{SearchCursor, SearchHit, SearchQuery};

use super::model::{ChatState, Found};

impl ChatState {
    /// A page of results: the first of a query replaces what was found before, the next of
    /// the same query is added after it.
    pub(super) fn receive_results(
        &mut self,
        query: SearchQuery,
        hits: Vec<SearchHit>,
        next: Option<SearchCursor>,
    ) {
        match &mut self.search {
            Some(found) if found.query == query && found.next.is_some() => {
                found.hits.extend(hits);
                found.next = next;
            }
            _ => self.search = Some(Found { query, hits, next }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat_state::test_support::*;
    use shared::{MessageId, ServerMsg};

    fn page(query: &str, ids: &[u64], next: Option<&str>) -> ServerMsg {
        ServerMsg::SearchResults {
            query: query.parse().unwrap(),
            hits: ids
                .iter()
                .map(|&id| SearchHit {
                    room: Some(room("lobby")),
                    seq: Some(id),
                    to: None,
                    id: MessageId(id),
                    from: nick("bob"),
                    ts: 1,
                    text: format!("회의 {id}"),
                    marks: vec![[0, 6]],
                    image: false,
                })
                .collect(),
            next: next.map(|n| n.to_owned().try_into().unwrap()),
        }
    }

    #[test]
    fn pages_of_one_query_add_up_and_a_new_query_starts_over() {
        let mut state = welcomed();
        state.apply(page("회의", &[9, 8], Some("t8")), 0.0);
        state.apply(page("회의", &[7], None), 0.0);
        let ids = |state: &ChatState| -> Vec<u64> {
            state
                .search
                .as_ref()
                .unwrap()
                .hits
                .iter()
                .map(|h| h.id.0)
                .collect()
        };
        assert_eq!(ids(&state), [9, 8, 7]);
        assert_eq!(state.search.as_ref().unwrap().next, None);
        state.apply(page("config", &[3], None), 0.0);
        assert_eq!(ids(&state), [3]);
    }
}
