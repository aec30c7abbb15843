"""The prediction router: what-if stores nothing, 422 names the field, metrics are served."""

from __future__ import annotations

import pickle

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.routes_predict import build_predict_router
from models.prediction import SuccessPredictor
from tests.prediction.helpers import fails, finished, request


@pytest.fixture
def predictor() -> SuccessPredictor:
    pred = SuccessPredictor(metrics_every=50)
    for i in range(200):
        for app in ("good", "bad"):
            req = request(i, app=app)
            pred.predict(req)
            pred.learn(finished(req, fails(i, app)))
    return pred


@pytest.fixture
def client(predictor: SuccessPredictor) -> TestClient:
    app = FastAPI()
    app.include_router(build_predict_router(lambda: predictor))
    return TestClient(app)


def _body(app: str = "bad") -> dict[str, object]:
    return request(200, app=app).model_dump(mode="json")


def test_predict_returns_probability_alarm_and_explanation(client: TestClient) -> None:
    r = client.post("/v1/predict", json=_body())
    assert r.status_code == 200, r.text
    doc = r.json()
    assert set(doc) >= {"p_failure", "alarm", "threshold", "explanation", "model_version"}
    assert 0.0 <= doc["p_failure"] <= 1.0 and doc["alarm"] in (0, 1)
    assert doc["alarm"] == int(doc["p_failure"] >= doc["threshold"])
    assert doc["explanation"] and {"feature", "value", "weight"} <= set(doc["explanation"][0])


def test_predict_matches_the_model_and_stores_nothing(
    client: TestClient, predictor: SuccessPredictor
) -> None:
    before = pickle.dumps(predictor)
    doc = client.post("/v1/predict", json=_body()).json()
    assert pickle.dumps(predictor) == before
    assert doc["p_failure"] == pytest.approx(predictor.what_if(request(200, app="bad")).p_failure)


def test_predict_without_event_time_uses_the_time_of_the_call(client: TestClient) -> None:
    body = _body("good")
    del body["occurred_at"]
    assert client.post("/v1/predict", json=body).status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [("risk_tolerance", 3.0), ("app", ""), ("deployment_id", None), ("change", {"src_churn": -1})],
)
def test_invalid_body_is_422_naming_the_field(
    client: TestClient, field: str, value: object
) -> None:
    body = _body()
    body[field] = value
    r = client.post("/v1/predict", json=body)
    assert r.status_code == 422
    assert any(field in err["loc"] for err in r.json()["detail"])


def test_missing_required_field_is_422_naming_it(client: TestClient) -> None:
    body = _body()
    del body["app"]
    r = client.post("/v1/predict", json=body)
    assert r.status_code == 422
    assert any(err["loc"][-1] == "app" for err in r.json()["detail"])


def test_model_endpoint_reports_prequential_metrics_and_drift(client: TestClient) -> None:
    doc = client.get("/v1/models/success").json()
    assert doc["n"] == 400 and doc["labels_learned"] == 400
    for key in ("roc_auc", "log_loss", "brier", "f1", "threshold", "model_version"):
        assert doc[key] is not None
    assert doc["roc_auc"] > 0.5
    assert doc["drift"]["detector"].startswith("ADWIN")
