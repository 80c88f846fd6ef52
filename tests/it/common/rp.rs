//! A relying party built with the `openidconnect` crate, the way a real client would talk to us.

use std::time::Duration;

use openidconnect::core::{
    CoreClient, CoreIdToken, CoreIdTokenClaims, CoreProviderMetadata, CoreResponseType,
};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope,
};
use url::Url;

use super::{REDIRECT, TestClient, TestServer};

pub type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub struct Rp {
    pub client: OidcClient,
    pub http: openidconnect::reqwest::Client,
    pub provider: CoreProviderMetadata,
}

/// What the RP keeps between sending the user away and the callback.
pub struct Pending {
    pub url: Url,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

impl Rp {
    /// Discovery (issuer checked by the crate), then a client with our redirect URI.
    pub async fn discover(server: &TestServer, client: &TestClient) -> Rp {
        let http = openidconnect::reqwest::Client::builder()
            // Following redirects opens an RP to SSRF; also: we assert on every hop ourselves.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client");
        let issuer = IssuerUrl::new(server.issuer.clone()).expect("issuer URL");
        let provider = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .unwrap_or_else(|e| panic!("OIDC discovery against {} failed: {e:?}", server.issuer));
        let oidc = CoreClient::from_provider_metadata(
            provider.clone(),
            ClientId::new(client.id.clone()),
            client.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_string()).expect("redirect URL"));
        Rp {
            client: oidc,
            http,
            provider,
        }
    }

    /// An authorization URL with PKCE (S256), nonce and state.
    pub fn authorize_url(&self, scopes: &[&str]) -> Pending {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = self.client.authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in scopes {
            req = req.add_scope(Scope::new((*s).to_string()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        Pending {
            url,
            state,
            nonce,
            verifier,
        }
    }

    /// Verifies the ID token (signature, iss, aud, exp, nonce) and the `at_hash` against the access token.
    pub fn verify_id_token(
        &self,
        id_token: &CoreIdToken,
        access_token: &openidconnect::AccessToken,
        nonce: &Nonce,
    ) -> CoreIdTokenClaims {
        let verifier = self.client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, nonce)
            .unwrap_or_else(|e| panic!("ID token did not verify: {e:?}"))
            .clone();
        let expected = claims.access_token_hash().unwrap_or_else(|| {
            panic!("ID token from the code flow must carry at_hash: {claims:?}")
        });
        let alg = id_token.signing_alg().expect("ID token alg");
        let key = id_token
            .signing_key(&verifier)
            .expect("ID token key in JWKS");
        let actual =
            AccessTokenHash::from_token(access_token, alg, key).expect("at_hash computation");
        assert_eq!(&actual, expected, "at_hash does not match the access token");
        claims
    }
}
