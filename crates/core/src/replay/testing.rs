//! Small traces and envs for the replay's tests.

use super::traces::Traces;
use crate::config::EnvFile;

/// Traces from (file name, values), all `gap` seconds apart, as a folder would give them.
pub fn traces(gap: u32, files: &[(&str, &[u32])]) -> Traces {
    let files: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(name, data)| {
            let body = serde_json::json!({"metadata": {"gap_seconds": gap}, "data": data});
            (name.to_string(), body.to_string().into_bytes())
        })
        .collect();
    Traces::parse(&files).unwrap_or_else(|e| panic!("{e}"))
}

/// An env with candidate `regions`, p3 types (one interruption range everywhere, so the
/// ranking orders zones by name) and whatever `more` adds.
pub fn env(regions: &str, more: &str) -> EnvFile {
    let text = format!(
        "[env]\nname = \"t\"\nhome_region = \"us-east-1\"\nregions = {regions}\n\n[instance]\ntypes = \
         [\"p3.2xlarge\", \"p3.8xlarge\", \"p3.16xlarge\"]\n\n[access]\nssh_public_key = \"k.pub\"\n{more}"
    );
    crate::config::parse(&text, std::path::Path::new("t.toml"), &|_| true)
        .unwrap_or_else(|e| panic!("{e}"))
        .env
}

/// `[[fleet]]` text: `primary` falling back to `fallback`.
pub fn fleet(name: &str, primary: &str, fallback: &str, max_primary: u32, max_fallback: u32) -> String {
    format!(
        "\n[[fleet]]\nname = \"{name}\"\nprimary_region = \"{primary}\"\nfallback_region = \"{fallback}\"\n\
         instance_types = [\"p3.2xlarge\"]\nqueue = \"{name}\"\nmax_primary = {max_primary}\nmax_fallback = \
         {max_fallback}\ncommand = \"run\"\n"
    )
}
