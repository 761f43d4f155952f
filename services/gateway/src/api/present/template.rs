//! A response template.

use inbox_proto::conversation::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;

use super::time;

/// A response template.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Template)]
pub struct TemplateJson {
    pub id: String,
    pub name: String,
    pub body: String,
    /// Every variable the body uses, so a client can ask for the values.
    pub variables: Vec<String>,
    pub created_by: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl From<&pb::Template> for TemplateJson {
    fn from(t: &pb::Template) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            body: t.body.clone(),
            variables: t.variables.clone(),
            created_by: t.created_by.clone(),
            created_at: time(t.created_at.as_ref()),
            updated_at: time(t.updated_at.as_ref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use prost_types::Timestamp;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_template_lists_the_variables_its_body_uses() {
        let t = pb::Template {
            id: "t1".into(),
            name: "greeting".into(),
            body: "Hi {{customer_name}}".into(),
            variables: vec!["customer_name".into()],
            created_by: "user:u1".into(),
            created_at: Some(Timestamp { seconds: 1_930_118_400, nanos: 0 }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(TemplateJson::from(&t)).unwrap(),
            json!({"id": "t1", "name": "greeting", "body": "Hi {{customer_name}}", "variables": ["customer_name"],
                "created_by": "user:u1", "created_at": "2031-03-01T08:00:00.000Z", "updated_at": null})
        );
    }
}
